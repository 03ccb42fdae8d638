"""Class labels of Kermany chest X-ray files, read from their folder and file names."""

from __future__ import annotations

import os
from pathlib import PurePath

from keras_cxr._validation import invalid_value

#: Class names of each label set, in label order.
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "binary": ("NORMAL", "PNEUMONIA"),
    "categorical": ("NORMAL", "PNEUMONIA"),
    "three_class": ("NORMAL", "BACTERIAL", "VIRAL"),
}
#: The label sets `keras_cxr.training.TrainConfig.labels` offers.
LABEL_SETS = ("binary", "three_class")
#: The words of a pneumonia file name that give its cause, in any case.
_KINDS = ("bacteria", "virus")


def kermany_label(
    path: str | os.PathLike, labels: str = "binary", class_folder: str | None = None
) -> int:
    """The class index of one Kermany chest X-ray file, from its folder and its name.

    The class folder (`NORMAL` or `PNEUMONIA`, any case) gives the binary label. The
    three-class task of Kermany et al. (Cell 2018) splits pneumonia by cause, which the
    data set writes into each file name: `person1_bacteria_1.jpeg` is bacterial,
    `person1_virus_6.jpeg` viral. Nothing is opened; the function only reads the path.

    Args:
        path: The image file, e.g. `"train/PNEUMONIA/person1_virus_6.jpeg"`.
        labels: `"binary"` or `"categorical"` (NORMAL=0, PNEUMONIA=1), or `"three_class"`
            (NORMAL=0, BACTERIAL=1, VIRAL=2). Defaults to `"binary"`.
        class_folder: The class folder, when it is not the parent folder of `path`.
            Defaults to None (the parent folder's name).

    Returns:
        The label, an index into `CLASS_NAMES[labels]`.

    Raises:
        ValueError: For an unknown `labels`, a class folder that is neither NORMAL nor
            PNEUMONIA, or, with `"three_class"`, a pneumonia file whose name says neither
            "bacteria" nor "virus" (or both).

    Example:
        >>> keras_cxr.data.kermany_label("PNEUMONIA/person1_virus_6.jpeg", "three_class")
        2
        >>> keras_cxr.data.kermany_label("NORMAL/IM-0115-0001.jpeg", "three_class")
        0
    """
    if labels not in CLASS_NAMES:
        raise invalid_value("labels", f"one of {sorted(CLASS_NAMES)}", labels)
    path = PurePath(os.fspath(path).replace("\\", "/"))
    folder = (path.parent.name if class_folder is None else class_folder).upper()
    if folder not in ("NORMAL", "PNEUMONIA"):
        raise invalid_value(
            "path", "a file in a NORMAL or PNEUMONIA folder (or pass `class_folder`)", str(path)
        )
    if folder == "NORMAL":
        return 0
    if labels != "three_class":
        return 1
    name = path.name.lower()
    kinds = [kind for kind in _KINDS if kind in name]
    if len(kinds) != 1:
        raise ValueError(
            f"Cannot tell bacterial from viral pneumonia for {path.name!r}: the three-class "
            "labels need 'bacteria' or 'virus' in the file name, as in "
            "'person1_bacteria_1.jpeg' or 'person1_virus_6.jpeg'. Rename the file, or use "
            "labels='binary'."
        )
    return 1 + _KINDS.index(kinds[0])
