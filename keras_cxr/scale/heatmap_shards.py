"""Heatmaps of an explained archive: one compressed `.npz` file per shard.

A shard file holds `"path"` (the image files, as text) and, for each heatmap key of
`keras_cxr.explain.BatchExplainer` (`"heatmap"`, `"heatmap/<branch>"`), the maps as
float16 `(n, H, W)`: half the size of float32, and still finer (steps of at most 2⁻¹¹
in [0, 1]) than any colormap shows. Open one shard with `numpy.load`.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from keras_cxr.atomic import atomic_write

HEATMAPS_FOLDER = "heatmaps"
#: Storage type of the maps in a shard.
HEATMAP_DTYPE = np.float16
_SHARD = re.compile(r"^part-(\d{5,})\.npz$")


def write_heatmap_shard(
    path: str | os.PathLike, paths: Sequence[str], heatmaps: Mapping[str, np.ndarray]
) -> Path:
    """Writes one shard of heatmaps atomically, as a compressed `.npz`.

    Args:
        path: The shard file (`heatmaps/part-00000.npz`).
        paths: The image file of each map, in order.
        heatmaps: Key → `(n, H, W)` maps in [0, 1], `n == len(paths)`.

    Returns:
        `path` as a `Path`.

    Raises:
        OSError: If the file cannot be written.

    Example:
        >>> keras_cxr.scale.heatmap_shards.write_heatmap_shard(
        ...     "heatmaps/part-00000.npz", ["a.png"], {"heatmap": np.zeros((1, 8, 8))}
        ... )
    """
    arrays = {"path": np.asarray(list(paths), dtype=str)}
    for key, maps in heatmaps.items():
        arrays[key] = np.asarray(maps).astype(HEATMAP_DTYPE, copy=False)
    return atomic_write(path, lambda p: np.savez_compressed(p, **arrays))


def heatmap_shards(out: str | os.PathLike) -> list[Path]:
    """The complete heatmap shards of an explained archive, in order.

    Args:
        out: The output folder of `keras_cxr.explain_folder`.

    Returns:
        Paths of `heatmaps/part-*.npz` (hidden temporaries of an interrupted write are
        left out); empty if no heatmap was saved.

    Raises:
        Nothing: a missing folder gives an empty list.

    Example:
        >>> keras_cxr.scale.heatmap_shards.heatmap_shards("explained")[0].name
        'part-00000.npz'
    """
    folder = Path(out) / HEATMAPS_FOLDER
    if not folder.is_dir():
        return []
    found = [(int(m[1]), path) for path in folder.iterdir() if (m := _SHARD.match(path.name))]
    return [path for _, path in sorted(found)]


def read_heatmaps(out: str | os.PathLike) -> dict[str, np.ndarray]:
    """All heatmaps of an explained archive, read into memory at once.

    Meant for small archives and tests: a large archive's maps may not fit in memory;
    open its shards one at a time instead (`numpy.load` on each of `heatmap_shards(out)`).

    Args:
        out: The output folder of `keras_cxr.explain_folder` with `save="heatmaps"` or
            `"both"`.

    Returns:
        `"path"` → str `(n,)` and each heatmap key → float16 `(n, H, W)`, shards in order
        (the order of the results table); `{}` when no heatmap was saved.

    Raises:
        ValueError: If a shard cannot be read (truncated by something else than
            keras_cxr, which writes shards atomically).

    Example:
        >>> maps = keras_cxr.scale.read_heatmaps("explained")
        >>> maps["path"][0], maps["heatmap"][0].shape
        ('/data/test/NORMAL/IM-0001-0001.jpeg', (224, 224))
    """
    pieces = []
    for shard in heatmap_shards(out):
        try:
            with np.load(shard) as data:
                pieces.append({key: data[key] for key in data.files})
        except (OSError, ValueError, zipfile.BadZipFile) as error:
            raise ValueError(f"Cannot read the heatmap shard {str(shard)!r} ({error}).") from error
    if not pieces:
        return {}
    return {key: np.concatenate([piece[key] for piece in pieces]) for key in pieces[0]}
