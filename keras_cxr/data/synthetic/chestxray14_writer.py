"""Writing multi-finding phantoms to disk in the NIH ChestX-ray14 layout."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from keras_cxr._validation import check_int
from keras_cxr.atomic import atomic_write_text
from keras_cxr.data.synthetic._findings import CHESTXRAY14_NAMES, FINDINGS
from keras_cxr.data.synthetic.multilabel import make_multilabel_phantoms

#: Images per `images_NNN/images/` folder (the NIH download has about 10,000).
IMAGES_PER_FOLDER = 1000
_HEADER = ("Image Index", "Finding Labels", "Follow-up #", "Patient ID", "View Position")


def write_chestxray14(
    root: str | os.PathLike,
    n: int = 200,
    image_size: int = 96,
    findings: Sequence[str] = FINDINGS,
    prevalence: float | Sequence[float] = 0.3,
    seed: int = 0,
) -> Path:
    """Saves multi-finding phantoms as a ChestX-ray14-layout folder, a stand-in for the NIH set.

    Writes `root/Data_Entry_2017.csv` and PNGs in `root/images_001/images/`,
    `root/images_002/images/`, ... named the NIH way, `<patient>_<follow-up>.png`
    (`00000003_001.png` is patient 3's second image). About a third of the patients have
    two or three images. `Finding Labels` lists each image's findings by their
    ChestX-ray14 names (`Cardiomegaly|Effusion`) or says `No Finding`, so
    `keras_cxr.data.read_chestxray14(root / "Data_Entry_2017.csv", root)` reads it back.
    The phantoms are those of `keras_cxr.data.synthetic.make_multilabel_phantoms` with the
    same arguments, so their masks can be remade in memory. The CSV is written last and
    atomically: a folder with a CSV is complete.

    Args:
        root: Folder to create; it may exist only if it is empty.
        n: Number of images, >= 1. Defaults to 200.
        image_size: Side of the square images. Defaults to 96.
        findings: Findings drawn (see `make_multilabel_phantoms`). Defaults to all five.
        prevalence: Share of images with each finding. Defaults to 0.3.
        seed: Random seed. Defaults to 0.

    Returns:
        The `Path` of `root`.

    Raises:
        FileExistsError: `root` is a file or a non-empty folder; nothing is overwritten.
        ValueError: An argument is out of range.

    Example:
        >>> root = keras_cxr.data.synthetic.write_chestxray14("/tmp/cxr14", n=300)
        >>> table = keras_cxr.data.read_chestxray14(root / "Data_Entry_2017.csv", root)
    """
    n = check_int("n", n)
    root = Path(root).expanduser()
    if root.is_file() or (root.is_dir() and any(root.iterdir())):
        raise FileExistsError(
            f"{str(root)!r} already exists and is not an empty folder; write_chestxray14 "
            "never overwrites files. Pass a new or empty folder."
        )
    phantoms = make_multilabel_phantoms(n, image_size, findings, prevalence, seed)
    names = [CHESTXRAY14_NAMES[name] for name in phantoms.findings]
    rows = []
    for index, (patient, follow_up) in enumerate(_patients(n, seed)):
        name = f"{patient:08d}_{follow_up:03d}.png"
        folder = root / f"images_{index // IMAGES_PER_FOLDER + 1:03d}" / "images"
        folder.mkdir(parents=True, exist_ok=True)
        _write_new(folder / name, phantoms.images[index, ..., 0])
        shown = [names[k] for k in np.flatnonzero(phantoms.labels[index])]
        rows.append((name, "|".join(shown) or "No Finding", follow_up, patient, "PA"))
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([_HEADER, *rows])
    atomic_write_text(root / "Data_Entry_2017.csv", text.getvalue())
    return root


def _patients(n: int, seed: int) -> list[tuple[int, int]]:
    """`(patient, follow-up)` of each image: 1 to 3 images per patient, in order."""
    rng = np.random.default_rng([seed, 2_000])
    pairs: list[tuple[int, int]] = []
    patient = 0
    while len(pairs) < n:
        patient += 1
        count = int(rng.choice((1, 2, 3), p=(0.65, 0.25, 0.1)))
        pairs += [(patient, follow_up) for follow_up in range(count)]
    return pairs[:n]


def _write_new(path: Path, image: np.ndarray) -> None:
    ok, encoded = cv2.imencode(".png", image)
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
        raise RuntimeError(f"OpenCV could not encode {path}.")
    with open(path, "xb") as file:  # "x": fail rather than overwrite
        file.write(encoded.tobytes())
