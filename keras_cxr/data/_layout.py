"""Finding the image files of a Kermany-layout folder, ignoring operating-system clutter."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

SPLITS = ("train", "val", "test")
CLASS_FOLDERS = ("NORMAL", "PNEUMONIA")
IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".dcm")

# Files that macOS, Windows and Jupyter leave behind; they are never images.
_CLUTTER_FILES = frozenset({"thumbs.db", "desktop.ini", "ehthumbs.db"})
_CLUTTER_FOLDERS = frozenset({"__macosx"})


@dataclass(frozen=True)
class ImageFile:
    """One image file found in the layout, before it gets a label or a patient.

    Attributes:
        path: Path of the file.
        split_folder: The split folder it sits in, lower case: "train", "val" or "test".
        class_folder: Its class folder, upper case: "NORMAL" or "PNEUMONIA".
    """

    path: Path
    split_folder: str
    class_folder: str


def is_clutter(name: str) -> bool:
    """Whether a file or folder name is operating-system or notebook clutter.

    Hidden names (`.DS_Store`, `._x.jpeg` AppleDouble files, `.ipynb_checkpoints`),
    `Thumbs.db`, `desktop.ini` and `__MACOSX` are clutter.
    """
    lowered = name.lower()
    return name.startswith(".") or lowered in _CLUTTER_FILES or lowered in _CLUTTER_FOLDERS


def find_image_files(root: str | os.PathLike) -> list[ImageFile]:
    """Lists the image files of `root/{train,val,test}/{NORMAL,PNEUMONIA}/`, sorted by path.

    Folder names are matched case-insensitively; subfolders of a class folder are searched
    too. Only `.jpeg`, `.jpg`, `.png` and `.dcm` files count; clutter is skipped silently.
    Nothing is opened, so this is fast even for thousands of files.

    Raises:
        FileNotFoundError: `root`, or a class folder of a split that exists, is missing.
        NotADirectoryError: `root` is a file.
        ValueError: no split folder is found, two folders differ only by case, or a class
            folder holds no image file.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(
            f"The chest X-ray folder {str(root)!r} does not exist. Pass the folder that "
            "contains train/ and test/, laid out as root/{train,test,val}/{NORMAL,PNEUMONIA}/."
        )
    if not root.is_dir():
        raise NotADirectoryError(
            f"{str(root)!r} is a file. Pass the folder that contains train/ and test/."
        )
    split_dirs = _match_folders(root, SPLITS, str.lower)
    if not split_dirs:
        raise ValueError(_no_split_message(root))
    files: list[ImageFile] = []
    for split, split_dir in split_dirs.items():
        files.extend(find_class_files(split_dir, split))
    return sorted(files, key=lambda file: file.path)


def find_class_files(split_dir: str | os.PathLike, split: str = "test") -> list[ImageFile]:
    """Lists the image files of one split folder, `split_dir/{NORMAL,PNEUMONIA}/`, sorted.

    The same rules as `find_image_files` (any case, subfolders searched, clutter skipped),
    for a folder such as `chest_xray/test` given on its own.

    Args:
        split_dir: The split folder.
        split: The split name recorded in each `ImageFile`. Defaults to "test".

    Returns:
        One `ImageFile` per image file, sorted by path.

    Raises:
        FileNotFoundError: A class folder is missing.
        ValueError: Two folders differ only by case, or a class folder holds no image file.
    """
    split_dir = Path(split_dir)
    class_dirs = _match_folders(split_dir, CLASS_FOLDERS, str.upper)
    _warn_unknown_class_folders(split_dir, class_dirs)
    files: list[ImageFile] = []
    for class_folder in CLASS_FOLDERS:
        if class_folder not in class_dirs:
            raise FileNotFoundError(
                f"Class folder {str(split_dir / class_folder)!r} is missing. Every split "
                f"folder needs both {' and '.join(CLASS_FOLDERS)} subfolders."
            )
        paths = _image_paths(class_dirs[class_folder])
        if not paths:
            raise ValueError(
                f"Class folder {str(class_dirs[class_folder])!r} holds no image file. "
                f"Expected files ending in {', '.join(IMAGE_EXTENSIONS)}; add images or "
                "remove the split folder."
            )
        files.extend(ImageFile(path, split, class_folder) for path in paths)
    return sorted(files, key=lambda file: file.path)


def has_class_folders(folder: str | os.PathLike) -> bool:
    """Whether `folder` itself holds NORMAL and PNEUMONIA folders (a split folder)."""
    return set(_match_folders(Path(folder), CLASS_FOLDERS, str.upper)) == set(CLASS_FOLDERS)


def split_folder(root: str | os.PathLike, split: str) -> Path | None:
    """The subfolder of `root` named `split` in any case, or None."""
    return _match_folders(Path(root), SPLITS, str.lower).get(split)


def _subfolders(folder: Path) -> list[Path]:
    return sorted(
        entry for entry in folder.iterdir() if entry.is_dir() and not is_clutter(entry.name)
    )


def _match_folders(folder: Path, wanted: tuple[str, ...], normalize) -> dict[str, Path]:
    """Maps each wanted name to the subfolder spelled like it in any case."""
    found: dict[str, Path] = {}
    for sub in _subfolders(folder):
        key = normalize(sub.name)
        if key not in wanted:
            continue
        if key in found:
            raise ValueError(
                f"Folders {str(found[key])!r} and {str(sub)!r} differ only by case, so it is "
                "unclear which one holds the images. Merge them into one folder."
            )
        found[key] = sub
    return found


def _warn_unknown_class_folders(split_dir: Path, class_dirs: dict[str, Path]) -> None:
    known = set(class_dirs.values())
    unknown = [sub.name for sub in _subfolders(split_dir) if sub not in known]
    if unknown:
        warnings.warn(
            f"Ignoring folders {unknown} in {str(split_dir)!r}: only "
            f"{' and '.join(CLASS_FOLDERS)} are class folders.",
            stacklevel=4,
        )


def _image_paths(class_dir: Path) -> list[Path]:
    paths = []
    for dirpath, dirnames, filenames in os.walk(class_dir):
        dirnames[:] = [name for name in dirnames if not is_clutter(name)]
        paths.extend(
            Path(dirpath) / name
            for name in filenames
            if not is_clutter(name) and name.lower().endswith(IMAGE_EXTENSIONS)
        )
    return sorted(paths)


def _no_split_message(root: Path) -> str:
    message = (
        f"No train/, val/ or test/ folder found in {str(root)!r}. Expected the Kermany layout "
        "root/{train,test,val}/{NORMAL,PNEUMONIA}/."
    )
    nested = [sub for sub in _subfolders(root) if _match_folders(sub, SPLITS, str.lower)]
    if nested:
        message += f" Did you mean {str(nested[0])!r}?"
    return message
