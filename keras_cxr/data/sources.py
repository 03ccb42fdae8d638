"""Image sources: files, folders, glob patterns and path lists expanded into image files.

This is how a whole archive is named on the command line or in a script: any mix of image
files, folders (searched recursively, in the Kermany layout or any other tree), glob
patterns (`"scans/**/*.dcm"`) and `.txt` files listing one path per line. Only paths are
collected, never pixels, so listing a folder of a hundred thousand radiographs is cheap.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from keras_cxr.data._layout import CLASS_FOLDERS, IMAGE_EXTENSIONS, is_clutter

#: Suffix of a file that lists image paths, one per line.
LIST_SUFFIX = ".txt"
_GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True)
class ImageSource:
    """One image file to read, with the label its folder gives it.

    Attributes:
        path: The file, as an absolute path (so that runs started from different working
            folders name it alike).
        label: `"NORMAL"` or `"PNEUMONIA"` when the nearest folder of that name (in any
            case) holds the file, else `""`.

    Args:
        path, label: The attributes above; `find_images` makes them.

    Returns:
        The frozen dataclass.

    Raises:
        Nothing of its own: a plain record.

    Example:
        >>> keras_cxr.data.ImageSource(Path("/data/test/NORMAL/a.jpeg"), "NORMAL").label
        'NORMAL'
    """

    path: Path
    label: str = ""


def find_images(sources: str | os.PathLike | Iterable[str | os.PathLike]) -> list[ImageSource]:
    """Expands files, folders, glob patterns and path lists into the image files they name.

    * A folder is searched recursively for `.jpeg`, `.jpg`, `.png` and `.dcm` files
      (any case); operating-system clutter (`.DS_Store`, `__MACOSX`, hidden files) is
      skipped.
    * A glob pattern (a path with `*`, `?` or `[`; `**` crosses folders) adds the image
      files it matches and the images of the folders it matches. As in the shell, it is
      case-sensitive on Linux: `*.jpeg` does not match `X.JPEG`.
    * A `.txt` file lists one path per line, each a file, folder or pattern; relative
      paths are read from the list's folder; blank lines and lines starting with `#`
      are ignored.
    * Any other file is taken as an image, whatever its extension: it was named on
      purpose, and the decoder says later whether it is one.

    A file named twice is listed once. The label comes from the nearest enclosing folder
    named NORMAL or PNEUMONIA (the Kermany layout), else it is empty.

    Args:
        sources: One source or several.

    Returns:
        One `keras_cxr.data.ImageSource` per image file, sorted by path.

    Raises:
        FileNotFoundError: A source does not exist, or a pattern matches nothing (the
            message names it).
        ValueError: No image file is found at all, or `sources` is empty.

    Example:
        >>> images = keras_cxr.data.find_images(["chest_xray/test", "extra/*.dcm"])
        >>> images[0].label
        'NORMAL'
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    sources = list(sources)
    if not sources:
        raise ValueError(
            "Invalid value received for argument `sources`. Expected at least one image "
            "file, folder, glob pattern or .txt list. Received: sources=[]"
        )
    found: dict[Path, ImageSource] = {}
    for source in sources:
        for path in _expand(source, Path.cwd(), listed_by=None):
            path = Path(os.path.abspath(path))
            found.setdefault(path, ImageSource(path, label_of(path)))
    if not found:
        raise ValueError(
            f"No image found in {[os.fspath(s) for s in sources]}: expected files ending in "
            f"{', '.join(IMAGE_EXTENSIONS)} (in any case). Check the folder or the pattern."
        )
    return [found[path] for path in sorted(found)]


def label_of(path: str | os.PathLike) -> str:
    """The class name of the nearest folder above `path` named NORMAL or PNEUMONIA, or "".

    Args:
        path: An image file.

    Returns:
        `"NORMAL"`, `"PNEUMONIA"` or `""`.

    Raises:
        Nothing: only the path's text is read.

    Example:
        >>> keras_cxr.data.sources.label_of("chest_xray/test/pneumonia/p1.jpeg")
        'PNEUMONIA'
    """
    for folder in Path(path).parents:
        if folder.name.upper() in CLASS_FOLDERS:
            return folder.name.upper()
    return ""


def _expand(source: str | os.PathLike, base: Path, listed_by: Path | None) -> list[Path]:
    """The image files one source names; `base` resolves relative paths."""
    text = os.path.expanduser(os.fspath(source))
    path = Path(text) if Path(text).is_absolute() else base / text
    if _GLOB_CHARACTERS & set(text):
        matches = sorted(glob.glob(str(path), recursive=True))
        if not matches:
            raise FileNotFoundError(f"The pattern {text!r}{_where(listed_by)} matches no file.")
        return [file for match in map(Path, matches) for file in _matched(match)]
    if not path.exists():
        raise FileNotFoundError(
            f"No image file or folder at {str(path)!r}{_where(listed_by)}. Check the path."
        )
    return _files_of(path, listed_by)


def _files_of(path: Path, listed_by: Path | None) -> list[Path]:
    if path.is_dir():
        return _folder_images(path)
    if path.suffix.lower() == LIST_SUFFIX and listed_by is None:
        return _listed(path)
    return [path]


def _matched(path: Path) -> list[Path]:
    """The images among what a pattern matched: a pattern names images by what it fits."""
    if path.is_dir():
        return _folder_images(path)
    return [path] if _is_image_name(path.name) else []


def _is_image_name(name: str) -> bool:
    return not is_clutter(name) and name.lower().endswith(IMAGE_EXTENSIONS)


def _listed(list_file: Path) -> list[Path]:
    """The files named by a path list (entries may not be lists themselves)."""
    files: list[Path] = []
    for line in list_file.read_text(encoding="utf-8").splitlines():
        entry = line.strip()
        if entry and not entry.startswith("#"):
            files.extend(_expand(entry, list_file.parent, listed_by=list_file))
    return files


def _folder_images(folder: Path) -> list[Path]:
    paths = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [name for name in dirnames if not is_clutter(name)]
        paths.extend(Path(dirpath) / name for name in filenames if _is_image_name(name))
    return paths


def _where(listed_by: Path | None) -> str:
    return "" if listed_by is None else f" (listed in {str(listed_by)!r})"
