"""Where a heatmap puts its weight, in four numbers per image: a table column each.

Looking at ten thousand overlays is not possible; sorting a table by "share of the map
outside the lungs" is. The regions are fixed boxes, in fractions of the image, that fit
a frontal (PA or AP) chest radiograph framed the usual way; they are not a segmentation.
A map that peaks in a corner or puts little of its mass on the lung fields points at a
marker, a label or the image border rather than at the lungs: a shortcut worth a look.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from keras_cxr._validation import shape_error

#: The central region: the middle half of the rows and of the columns, a quarter of the
#: image, `(top, bottom, left, right)` as fractions.
CENTRAL_REGION = (0.25, 0.75, 0.25, 0.75)
#: The lung region: rows 15-75 % of the height, in two boxes at 15-45 % and 55-85 % of the
#: width, leaving out the mediastinum. It covers the lung fields of a PA radiograph
#: framed from the shoulders to the diaphragm, and those of the synthetic phantoms
#: (`keras_cxr.data.synthetic`: apices at 12-17 %, bases at 70-78 % of the height,
#: 5-38 % of the width either side of the midline).
LUNG_ROWS = (0.15, 0.75)
LUNG_COLUMNS = ((0.15, 0.45), (0.55, 0.85))
#: The statistics, in the order of the columns.
STATISTICS = ("peak_row", "peak_col", "central_share", "lung_share")


def heatmap_statistics(
    heatmaps: np.ndarray | Mapping[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Peak position and share of the heatmap mass in the central and the lung region.

    For each map, with pixel `(i, j)` of an `H × W` map at the fractional position
    `((i + 0.5) / H, (j + 0.5) / W)` of its centre:

    * `peak_row`, `peak_col`: the position of the maximum (the first one in row-major
      order when several pixels tie);
    * `central_share`: the sum of the map over `CENTRAL_REGION` divided by its total sum;
    * `lung_share`: the same over the two boxes of the lung region (`LUNG_ROWS` ×
      `LUNG_COLUMNS`), about 36 % of the image.

    A map of zeros (no evidence anywhere) has no peak and no shares: all four are NaN.
    A map spread evenly gets shares equal to the regions' areas (0.25 and 0.36 on a
    size divisible by 20), the baseline to compare against.

    Args:
        heatmaps: Non-negative maps `(n, H, W)` (as in `keras_cxr.Explanation`), or a
            mapping from a name to such maps, e.g. one entry per branch.

    Returns:
        float32 `(n,)` columns: named as in `STATISTICS` for an array; `"<name>/<stat>"`
        for a mapping (e.g. `"fused/lung_share"`), name by name.

    Raises:
        ValueError: If a value is not a 3-D array.

    Example:
        >>> maps = np.zeros((1, 4, 4), "float32")
        >>> maps[0, 1, 2] = 1.0
        >>> stats = keras_cxr.explain.heatmap_statistics(maps)
        >>> float(stats["peak_row"][0]), float(stats["peak_col"][0])
        (0.375, 0.625)
        >>> float(stats["central_share"][0]), float(stats["lung_share"][0])
        (1.0, 1.0)
    """
    if isinstance(heatmaps, Mapping):
        return {
            f"{name}/{stat}": column
            for name, maps in heatmaps.items()
            for stat, column in _statistics(maps, name).items()
        }
    return _statistics(heatmaps, "heatmaps")


def region_masks(height: int, width: int) -> dict[str, np.ndarray]:
    """The central and the lung region as boolean `(height, width)` masks.

    A pixel belongs to a region when its centre does (see `heatmap_statistics`).

    Args:
        height, width: The map size.

    Returns:
        `{"central": mask, "lung": mask}`.

    Raises:
        Nothing of its own: any size gives its masks.

    Example:
        >>> from keras_cxr.explain.heatmap_statistics import region_masks
        >>> int(region_masks(20, 20)["lung"].sum())  # 12 rows × (6 + 6) columns
        144
    """
    rows = (np.arange(height) + 0.5) / height
    cols = (np.arange(width) + 0.5) / width
    top, bottom, left, right = CENTRAL_REGION
    central = _inside(rows, top, bottom)[:, None] & _inside(cols, left, right)[None, :]
    lung_cols = np.zeros(width, dtype=bool)
    for start, stop in LUNG_COLUMNS:
        lung_cols |= _inside(cols, start, stop)
    lung = _inside(rows, *LUNG_ROWS)[:, None] & lung_cols[None, :]
    return {"central": central, "lung": lung}


def _statistics(maps, name: str) -> dict[str, np.ndarray]:
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3:
        raise shape_error(name, "heatmaps of shape (n, height, width)", maps.shape)
    n, height, width = maps.shape
    masks = region_masks(height, width)
    total = maps.sum(axis=(1, 2))
    empty = ~(total > 0)
    safe_total = np.where(empty, 1.0, total)
    peak = maps.reshape(n, height * width).argmax(axis=1) if maps.size else np.zeros(0, int)
    columns = {
        "peak_row": (peak // width + 0.5) / height,
        "peak_col": (peak % width + 0.5) / width,
        "central_share": (maps * masks["central"]).sum(axis=(1, 2)) / safe_total,
        "lung_share": (maps * masks["lung"]).sum(axis=(1, 2)) / safe_total,
    }
    return {key: np.where(empty, np.nan, col).astype(np.float32) for key, col in columns.items()}


def _inside(positions: np.ndarray, start: float, stop: float) -> np.ndarray:
    return (positions >= start) & (positions < stop)
