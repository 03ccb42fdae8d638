"""Region masks of a set of images, from PNG masks matched by name or from a box CSV.

`load_region_masks` is how `keras-cxr evaluate-explanations` gets the ground truth the
localisation metrics compare heatmaps with. Every check runs before any mask is resized
(and before any model is loaded by its caller): a mask or box that names no image, a
mask of another size than its image, two images of one name.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from keras_cxr.data._layout import is_clutter
from keras_cxr.data.box_csv import Box, boxes_to_mask, image_name
from keras_cxr.data.image_header import dicom_header, read_header

__all__ = ["check_region_sources", "find_mask_files", "image_size", "load_region_masks"]

#: How many names an error lists before "and N more".
_LISTED = 5


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in list(names)[:_LISTED])
    return shown + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "")


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """`(height, width)` of an image file, read from its header (decoded if it has none).

    Args:
        path: A PNG, JPEG or DICOM file.

    Returns:
        The height and width in pixels.

    Raises:
        ValueError: If the file is no readable image.

    Example:
        >>> keras_cxr.data.region_masks.image_size("scan.png")
        (1024, 1024)
    """
    path = Path(path)
    if path.suffix.lower() == ".dcm":
        header = dicom_header(path)
    else:
        with open(path, "rb") as file:
            header = read_header(file.read(1 << 16))
    if header is not None:
        return header.height, header.width
    decoded = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if decoded is None:
        raise ValueError(f"Cannot read the size of {str(path)!r}: it is no PNG, JPEG or DICOM.")
    return decoded.shape[0], decoded.shape[1]


def find_mask_files(folder: str | os.PathLike) -> dict[str, Path]:
    """The PNG masks of a folder (searched recursively), by image name.

    A mask is named after its image with the extension `.png`: `scans/a.jpeg` and
    `scans/b.dcm` have the masks `masks/a.png` and `masks/b.png`.

    Args:
        folder: The mask folder.

    Returns:
        Image name (the mask's file name without `.png`) → mask file.

    Raises:
        FileNotFoundError: If the folder does not exist.
        ValueError: If it holds no PNG, or two PNGs of one name (in different folders).

    Example:
        >>> sorted(keras_cxr.data.find_mask_files("masks"))
        ['a', 'b']
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"No mask folder at {str(folder)!r}.")
    files = sorted(
        path
        for path in folder.rglob("*")
        if path.suffix.lower() == ".png"
        and path.is_file()
        and not any(is_clutter(part) for part in path.relative_to(folder).parts)
    )
    if not files:
        raise ValueError(
            f"No PNG mask in {str(folder)!r}: masks are PNG files named after their images "
            "(a.jpeg → a.png), non-zero inside the region."
        )
    names = Counter(path.stem for path in files)
    twice = sorted(name for name, count in names.items() if count > 1)
    if twice:
        raise ValueError(
            f"Several masks in {str(folder)!r} are named {_listed(twice)}: masks are matched "
            "to images by name, so each name may appear once."
        )
    return {path.stem: path for path in files}


def _check_names(image_paths: Sequence[Path], named: Sequence[str], what: str) -> list[str]:
    """The image names; ValueError for two images of one name or regions naming no image."""
    names = [image_name(path.name) for path in image_paths]
    twice = sorted(name for name, count in Counter(names).items() if count > 1)
    if twice:
        raise ValueError(
            f"Several images are named {_listed(twice)} (in different folders or with "
            f"different extensions); {what} are matched to images by name, so each image "
            "name may appear once. Rename them or evaluate the folders apart."
        )
    unmatched = sorted(set(named) - set(names))
    if unmatched:
        raise ValueError(
            f"{len(unmatched)} of the {what} match no image: {_listed(unmatched)}. A mask "
            "or box is matched to the image of the same name without extension (a.png "
            "↔ a.jpeg); check --data and the names."
        )
    return names


def check_region_sources(
    image_paths: Sequence[str | os.PathLike],
    mask_files: Mapping[str, Path] | None = None,
    boxes: Mapping[str, list[Box]] | None = None,
) -> list[str]:
    """Checks masks or boxes against the images before any pixel is read or model loaded.

    Every mask and box must name an image, no two images may share a name, and each PNG
    mask must have its image's size (both read from the file headers).

    Args:
        image_paths: The image files.
        mask_files: Image name → PNG mask, e.g. from `find_mask_files`.
        boxes: Image name → boxes, e.g. from `keras_cxr.data.read_box_csv`.

    Returns:
        The image names (file names without extension), in the order of `image_paths`.

    Raises:
        ValueError: If both or neither source is given, a mask or box names no image, two
            images share a name, or a mask's size differs from its image's.

    Example:
        >>> keras_cxr.data.check_region_sources(
        ...     ["scans/a.png"], boxes={"a": [(0, 0, 10, 10)]})
        ['a']
    """
    if (mask_files is None) == (boxes is None):
        raise ValueError("Pass exactly one of `mask_files` and `boxes`.")
    image_paths = [Path(path) for path in image_paths]
    source = mask_files if mask_files is not None else boxes
    names = _check_names(image_paths, list(source), "masks" if boxes is None else "boxes")
    for path, name in zip(image_paths, names):
        if mask_files is not None and name in mask_files:
            _check_size(mask_files[name], image_size(path), path)
    return names


def _check_size(mask: Path, expected: tuple[int, int], image: Path) -> None:
    found = image_size(mask)
    if found != expected:
        raise ValueError(
            f"The mask {str(mask)!r} is {found[1]} × {found[0]} pixels (width × height) but "
            f"its image {str(image)!r} is {expected[1]} × {expected[0]}: a mask must have "
            "its image's size. Export the masks at the images' size."
        )


def _read_mask(path: Path, size: int) -> np.ndarray:
    """One PNG mask (non-zero inside), resized nearest-neighbour to `size` × `size`."""
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise ValueError(f"Cannot decode the mask {str(path)!r}: it is not a readable PNG.")
    return (
        cv2.resize((mask > 0).astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST) > 0
    )


def load_region_masks(
    image_paths: Sequence[str | os.PathLike],
    size: int,
    mask_files: Mapping[str, Path] | None = None,
    boxes: Mapping[str, list[Box]] | None = None,
) -> np.ndarray:
    """The region mask of every image, at `size` × `size`, from PNG masks or boxes.

    Exactly one of `mask_files` and `boxes` is given, and both are checked first
    (`check_region_sources`). An image with no mask file, or not named in the boxes, or
    named with no box, has no finding: an empty mask (the localisation metrics leave it
    out). PNG masks are non-zero inside the region and are resized nearest-neighbour;
    boxes are rasterised at `size` from the image's own size
    (`keras_cxr.data.boxes_to_mask`).

    Args:
        image_paths: The image files, in the order of the images evaluated.
        size: Side of the square masks (the model's input size).
        mask_files: Image name → PNG mask, e.g. from `find_mask_files`.
        boxes: Image name → boxes, e.g. from `keras_cxr.data.read_box_csv`.

    Returns:
        bool `(len(image_paths), size, size)`.

    Raises:
        ValueError: As `check_region_sources`, or for a PNG mask that cannot be decoded.

    Example:
        >>> masks = keras_cxr.data.load_region_masks(
        ...     ["scans/a.png", "scans/b.png"], 64, boxes={"a": [(0, 0, 10, 10)], "b": []})
        >>> masks.shape, masks[1].any()
        ((2, 64, 64), False)
    """
    names = check_region_sources(image_paths, mask_files, boxes)
    masks = np.zeros((len(names), size, size), dtype=bool)
    for index, (path, name) in enumerate(zip(image_paths, names)):
        if mask_files is not None and name in mask_files:
            masks[index] = _read_mask(mask_files[name], size)
        elif boxes is not None and boxes.get(name):
            masks[index] = boxes_to_mask(boxes[name], image_size(path), (size, size))
    return masks
