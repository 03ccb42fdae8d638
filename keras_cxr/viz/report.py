"""A self-contained HTML report: metrics, figures and image galleries in one file.

Images are embedded as base64 PNG `data:` URIs and the styling is inline, so the page
needs no other file and no network: it can be mailed, archived or opened offline. The
module knows nothing about models or training; it lays out what it is given.
"""

from __future__ import annotations

import base64
import datetime
import html
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from keras_cxr._validation import invalid_value
from keras_cxr.viz.overlay import to_uint8_rgb

_STYLE = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;
max-width:1200px;color:#222;background:#fff;padding:0 16px}
h1{font-size:1.6em;margin-bottom:4px}h2{font-size:1.25em;border-bottom:1px solid #ddd;
padding-bottom:4px;margin-top:32px}.sub{color:#666;margin-top:0}
table.metrics{border-collapse:collapse;margin:8px 0}
table.metrics td,table.metrics th{border:1px solid #ddd;padding:4px 10px;text-align:left}
table.metrics th{background:#f4f6f8}td.num{text-align:right;font-variant-numeric:tabular-nums}
.figures{display:flex;flex-wrap:wrap;gap:16px}.figures figure{margin:0}
.figures img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.85em;color:#555;text-align:center}
.gallery{display:flex;flex-wrap:wrap;gap:14px}
.card{border:1px solid #ddd;border-radius:6px;padding:8px;background:#fafafa;width:max-content}
.card .images{display:flex;gap:6px}.card figure{margin:0;text-align:center}
.card img{width:160px;height:160px;image-rendering:auto;border:1px solid #ccc}
.card p{margin:6px 0 0;font-size:.85em;max-width:520px}
.wrong{border-color:#d62728;background:#fff5f5}.ok{border-color:#2ca02c}
.notes li{margin:4px 0;color:#444}
"""


@dataclass
class GalleryItem:
    """One card of a gallery: a few labelled images side by side and a caption.

    Attributes:
        images: `(label, image)` pairs; images are `(H, W)`, `(H, W, 1|3)` arrays (uint8,
            or float in [0, 1] or [0, 255]).
        caption: Lines of text under the images.
        highlight: `"ok"`, `"wrong"` or `""` (the card's border colour).

    Example:
        >>> item = keras_cxr.viz.report.GalleryItem(
        ...     [("image", x), ("Grad-CAM", overlay)], ["PNEUMONIA p=0.97 ± 0.02"], "ok")
    """

    images: Sequence[tuple[str, np.ndarray]]
    caption: Sequence[str] = field(default_factory=tuple)
    highlight: str = ""


def render_html_report(
    title: str,
    subtitle: str = "",
    metrics: Mapping[str, Any] | None = None,
    figures: Mapping[str, Any] | None = None,
    galleries: Mapping[str, Sequence[GalleryItem]] | None = None,
    notes: Sequence[str] = (),
    tables: Mapping[str, tuple[Sequence[str], Sequence[Sequence[Any]]]] | None = None,
) -> str:
    """Renders the report as one HTML string.

    Sections appear in this order: the metrics table, the other tables, the figures, each
    gallery (in the mapping's order), then the notes. All text is HTML-escaped.

    Args:
        title: Page title and heading.
        subtitle: A line under the heading (e.g. model and data paths).
        metrics: Name → value; floats are shown with 4 decimals, NaN as "n/a", nested
            lists (a confusion matrix) as text.
        figures: Caption → PNG bytes, an image array, or a matplotlib figure.
        galleries: Section heading → cards.
        notes: Paragraphs listed at the end (how to read the page, caveats).
        tables: Heading → `(column names, rows)`, e.g. a per-class table or a k × k
            confusion matrix; cells are formatted like the metrics. Defaults to None.

    Returns:
        The HTML document.

    Raises:
        ValueError: For a figure or image that cannot be encoded as PNG.

    Example:
        >>> page = keras_cxr.viz.report.render_html_report("Demo", metrics={"AUC": 0.98})
        >>> page.startswith("<!DOCTYPE html>")
        True
    """
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_text(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_text(title)}</h1>",
    ]
    generated = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    parts.append(f'<p class="sub">{_text(subtitle)} · generated {generated}</p>')
    if metrics:
        parts.append('<h2 id="metrics">Metrics</h2><table class="metrics">')
        parts.append("<tr><th>metric</th><th>value</th></tr>")
        for name, value in metrics.items():
            css = ' class="num"' if isinstance(value, (int, float, np.number)) else ""
            parts.append(f"<tr><td>{_text(name)}</td><td{css}>{_text(_format(value))}</td></tr>")
        parts.append("</table>")
    for heading, (columns, rows) in (tables or {}).items():
        parts.append(f'<h2>{_text(heading)}</h2><table class="metrics"><tr>')
        parts.extend(f"<th>{_text(column)}</th>" for column in columns)
        parts.append("</tr>")
        parts.extend(f"<tr>{''.join(_cell(value) for value in row)}</tr>" for row in rows)
        parts.append("</table>")
    if figures:
        parts.append('<h2 id="figures">Figures</h2><div class="figures">')
        for caption, figure in figures.items():
            parts.append(
                f'<figure><img src="{png_data_uri(figure)}" alt="{_attr(caption)}">'
                f"<figcaption>{_text(caption)}</figcaption></figure>"
            )
        parts.append("</div>")
    for heading, items in (galleries or {}).items():
        parts.append(f"<h2>{_text(heading)}</h2>")
        if not items:
            parts.append("<p>No case.</p>")
            continue
        parts.append('<div class="gallery">')
        for item in items:
            if item.highlight not in ("", "ok", "wrong"):
                raise invalid_value("highlight", "'', 'ok' or 'wrong'", item.highlight)
            parts.append(f'<div class="card {item.highlight}"><div class="images">')
            for label, image in item.images:
                parts.append(
                    f'<figure><img src="{png_data_uri(image)}" alt="{_attr(label)}">'
                    f"<figcaption>{_text(label)}</figcaption></figure>"
                )
            parts.append("</div>")
            parts.extend(f"<p>{_text(line)}</p>" for line in item.caption)
            parts.append("</div>")
        parts.append("</div>")
    if notes:
        parts.append('<h2 id="notes">Notes</h2><ul class="notes">')
        parts.extend(f"<li>{_text(note)}</li>" for note in notes)
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html_report(path: str | os.PathLike, **sections: Any) -> Path:
    """Renders the report (see `render_html_report`) and writes it atomically.

    The page is written to a temporary file next to `path` and renamed, so a reader never
    sees half a page and a failure leaves any previous report untouched.

    Args:
        path: The `.html` file to write; its folder is created if needed.
        **sections: The arguments of `render_html_report` (`title` is required).

    Returns:
        `path` as a `Path`.

    Raises:
        OSError: If the folder cannot be written.
        ValueError: For a figure or image that cannot be encoded.

    Example:
        >>> keras_cxr.viz.report.write_html_report("report.html", title="Demo",
        ...                                         metrics={"AUC": 0.98})
    """
    page = render_html_report(**sections)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(page)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path


def png_data_uri(image: Any) -> str:
    """Encodes PNG bytes, an image array or a matplotlib figure as a `data:image/png` URI.

    Args:
        image: PNG `bytes`; a `(H, W)` or `(H, W, 1|3)` array (see `GalleryItem`); or a
            `matplotlib.figure.Figure`.

    Returns:
        `"data:image/png;base64,..."`.

    Raises:
        ValueError: If `image` is none of these, or bytes that are not a PNG.

    Example:
        >>> keras_cxr.viz.report.png_data_uri(np.zeros((8, 8), np.uint8))[:22]
        'data:image/png;base64,'
    """
    if isinstance(image, (bytes, bytearray)):
        data = bytes(image)
        if not data.startswith(b"\x89PNG\r\n\x1a\n"):
            raise invalid_value("image", "PNG bytes", f"{len(data)} bytes of another format")
    elif hasattr(image, "savefig"):
        import io

        buffer = io.BytesIO()
        image.savefig(buffer, format="png", dpi=110)
        data = buffer.getvalue()
    else:
        array = np.asarray(image)
        if array.ndim not in (2, 3):
            raise invalid_value("image", "(H, W) or (H, W, 1|3)", f"shape {array.shape}")
        rgb = to_uint8_rgb(array[None])[0]
        ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
            raise ValueError("OpenCV could not encode the image as PNG.")
        data = encoded.tobytes()
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _cell(value: Any) -> str:
    css = ' class="num"' if isinstance(value, (int, float, np.number)) else ""
    return f"<td{css}>{_text(_format(value))}</td>"


def _format(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return "n/a" if not math.isfinite(float(value)) else f"{float(value):.4f}"
    if isinstance(value, (list, tuple, np.ndarray)):
        return str(np.asarray(value).tolist())
    return str(value)


def _text(value: Any) -> str:
    return html.escape(str(value), quote=False)


def _attr(value: Any) -> str:
    return html.escape(str(value), quote=True)
