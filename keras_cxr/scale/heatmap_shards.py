"""Heatmaps of an explained archive: one compressed `.npz` file per shard.

A shard file holds `"path"` (the image files, as text) and, for each heatmap key of
`keras_cxr.explain.BatchExplainer` (`"heatmap"`, `"heatmap/<branch>"`), the maps as
uint8 `(n, H, W)`, the value in [0, 1] times 255: a colormap has 256 levels, so nothing
visible is lost, and a quarter of float32's bytes compresses in a fraction of float16's
time (zlib on float16 maps took half of an archive run's time). `read_heatmaps` gives
them back as float32 in [0, 1]; with `numpy.load`, divide by `HEATMAP_SCALE`.
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
#: Storage type of the maps in a shard, and the stored value of a map's 1.0.
HEATMAP_DTYPE = np.uint8
HEATMAP_SCALE = 255
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
        arrays[key] = quantize(maps)
    return atomic_write(path, lambda p: np.savez_compressed(p, **arrays))


def quantize(maps: np.ndarray) -> np.ndarray:
    """Maps in [0, 1] as stored in a shard: uint8, rounded, 255 for 1.0.

    Args:
        maps: Heatmaps in [0, 1], any shape; already uint8 maps are returned as they are.

    Returns:
        uint8 maps of the same shape.

    Raises:
        Nothing: values outside [0, 1] are clipped.

    Example:
        >>> keras_cxr.scale.heatmap_shards.quantize(np.array([0.0, 0.5, 1.0]))
        array([  0, 128, 255], dtype=uint8)
    """
    maps = np.asarray(maps)
    if maps.dtype == HEATMAP_DTYPE:
        return maps
    return np.rint(np.clip(maps, 0.0, 1.0) * HEATMAP_SCALE).astype(HEATMAP_DTYPE)


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
        `"path"` → str `(n,)` and each heatmap key → float32 `(n, H, W)` in [0, 1] (to
        within 1/510 of the explainer's maps), shards in order (the order of the results
        table); `{}` when no heatmap was saved.

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
                pieces.append({key: _dequantized(key, data[key]) for key in data.files})
        except (OSError, ValueError, zipfile.BadZipFile) as error:
            raise ValueError(f"Cannot read the heatmap shard {str(shard)!r} ({error}).") from error
    if not pieces:
        return {}
    return {key: np.concatenate([piece[key] for piece in pieces]) for key in pieces[0]}


def _dequantized(key: str, values: np.ndarray) -> np.ndarray:
    if key == "path":
        return values
    return values.astype(np.float32) / np.float32(HEATMAP_SCALE)
