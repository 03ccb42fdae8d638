"""Writing synthetic phantoms to disk in the Kermany chest X-ray layout."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from keras_cxr._validation import invalid_value
from keras_cxr.data.synthetic.phantoms import make_phantoms


def write_chest_xray(
    root: str | os.PathLike,
    n_train: int = 64,
    n_test: int = 16,
    image_size: int = 224,
    seed: int = 0,
    shortcut: bool = False,
    n_val: int = 0,
    prevalence: float = 0.5,
    three_class: bool = False,
) -> Path:
    """Saves phantoms as a Kermany-layout folder, a stand-in for the real data set.

    Writes `root/{train,test}/{NORMAL,PNEUMONIA}/` (and `root/val/` when `n_val > 0`)
    with grayscale JPEGs named the Kermany way, so `keras_cxr.data.patient_id` and the
    "three_class" labels work: normals are `IM-<patient>-<k>.jpeg` (every third patient
    `NORMAL2-IM-<patient>-<k>.jpeg`), pneumonias `person<patient>_<bacteria|virus>_<k>.jpeg`
    (two bacterial for one viral, drawn at random; with `three_class=True` the name
    follows the phantom, bacterial consolidation or viral interstitial pattern, see
    `keras_cxr.data.synthetic.make_phantoms`). About a third of the patients have two or three
    images. Patients are unique across splits, and each split's phantoms come from their
    own seed, so the test split is independent of `n_train`.

    Args:
        root: Folder to create; it may exist only if it is empty.
        n_train: Number of training images. Defaults to 64.
        n_test: Number of test images. Defaults to 16.
        image_size: Side of the square images. Defaults to 224.
        seed: Random seed. Defaults to 0.
        shortcut: Stamp the label-correlated marker (see
            `keras_cxr.data.synthetic.make_phantoms`). Defaults to False.
        n_val: Number of images in an official-style `val/` split. Defaults to 0 (none).
        prevalence: Share of pneumonia images in each split. Defaults to 0.5.
        three_class: Draw bacterial and viral pneumonia differently and name the files
            after what they show, for the "three_class" labels. Defaults to False.

    Returns:
        The `Path` of `root`, ready for `keras_cxr.data.load_chest_xray`.

    Raises:
        FileExistsError: `root` is a file or a non-empty folder; nothing is overwritten.
        ValueError: a count is negative, or no image would be written.

    Example:
        >>> root = keras_cxr.data.synthetic.write_chest_xray("/tmp/phantom_cxr", n_train=200)
        >>> data = keras_cxr.data.load_chest_xray(root)
    """
    for name, count in (("n_train", n_train), ("n_test", n_test), ("n_val", n_val)):
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise invalid_value(name, "an int >= 0", count)
    if n_train + n_test + n_val == 0:
        raise ValueError("write_chest_xray needs at least one image; all counts are 0.")
    root = Path(root).expanduser()
    if root.is_file() or (root.is_dir() and any(root.iterdir())):
        raise FileExistsError(
            f"{str(root)!r} already exists and is not an empty folder; write_chest_xray never "
            "overwrites files. Pass a new or empty folder."
        )
    namer = _KermanyNamer(np.random.default_rng([seed, 1_000]))
    for number, (split, count) in enumerate((("train", n_train), ("val", n_val), ("test", n_test))):
        if count == 0:
            continue
        split_seed = int(np.random.SeedSequence([seed, number]).generate_state(1)[0])
        phantoms = make_phantoms(
            count, image_size, prevalence, split_seed, shortcut, three_class=three_class
        )
        # Binary phantoms get a random cause in their name; three-class ones their own.
        kinds = ((0, "NORMAL", None), (1, "PNEUMONIA", None))
        if three_class:
            kinds = ((0, "NORMAL", None), (1, "PNEUMONIA", "bacteria"), (2, "PNEUMONIA", "virus"))
        for label, class_folder, kind in kinds:
            folder = root / split / class_folder
            folder.mkdir(parents=True, exist_ok=True)
            images = phantoms.images[phantoms.labels == label]
            for image, name in zip(images, namer.names(min(label, 1), len(images), kind)):
                _write_new(folder / name, image[..., 0])
    return root


class _KermanyNamer:
    """Hands out Kermany-style file names; patients are never reused across calls."""

    def __init__(self, rng: np.random.Generator):
        self._rng = rng
        self._next_patient = [1, 1]
        self._next_image = 1

    def names(self, label: int, count: int, kind: str | None = None) -> list[str]:
        names: list[str] = []
        while len(names) < count:
            patient = self._next_patient[label]
            self._next_patient[label] += 1
            images = min(count - len(names), int(self._rng.choice((1, 2, 3), p=(0.65, 0.25, 0.1))))
            if label == 0:
                prefix = "NORMAL2-IM" if patient % 3 == 0 else "IM"
                names += [f"{prefix}-{patient:04d}-{k:04d}.jpeg" for k in range(1, images + 1)]
            else:
                cause = kind or ("virus" if self._rng.random() < 1 / 3 else "bacteria")
                for _ in range(images):
                    names.append(f"person{patient}_{cause}_{self._next_image}.jpeg")
                    self._next_image += 1
        return names


def _write_new(path: Path, image: np.ndarray) -> None:
    ok, encoded = cv2.imencode(".jpeg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
        raise RuntimeError(f"OpenCV could not encode {path}.")
    with open(path, "xb") as file:  # "x": fail rather than overwrite
        file.write(encoded.tobytes())
