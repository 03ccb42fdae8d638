"""`LabelTable`: the images of a multi-label data set, their findings, patients and splits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from keras_cxr._validation import invalid_value
from keras_cxr.data.images import read_images
from keras_cxr.data.patients import split_by_patient


@dataclass
class LabelTable:
    """The rows of a multi-label chest X-ray CSV: one image, several findings each.

    `labels[i, k]` is 1 when image `i` shows finding `k`, 0 when it does not, and NaN when
    the label is ignored (an uncertain CheXpert label under the `"ignore"` policy); a loss
    or metric must leave the NaN entries out (see `mask`).

    Attributes:
        paths: The image file of each row.
        labels: float32 `(N, K)` of 0, 1 or NaN.
        patients: The patient of each row.
        findings: The name of each of the `K` label columns.
        lines: The CSV line of each row (the header is line 1).
        skipped: `(line, reason)` of the rows left out with `strict=False`.

    Example:
        >>> table = keras_cxr.data.read_chestxray14("Data_Entry_2017.csv", "images")
        >>> table.labels.shape == (len(table), len(table.findings))
        True
    """

    paths: list[Path]
    labels: np.ndarray
    patients: list[str]
    findings: tuple[str, ...]
    lines: list[int] = field(default_factory=list, repr=False)
    skipped: list[tuple[int, str]] = field(default_factory=list, repr=False)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def mask(self) -> np.ndarray:
        """bool `(N, K)`, True where the label is known (not NaN)."""
        return ~np.isnan(self.labels)

    def take(self, indices: Sequence[int] | np.ndarray) -> LabelTable:
        """The rows at `indices`, as a new `LabelTable` (same findings, no skipped rows).

        Args:
            indices: Row positions to keep, in the order wanted.

        Returns:
            A new `keras_cxr.data.LabelTable`.

        Example:
            >>> first_ten = table.take(range(10))
        """
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        lines = [self.lines[i] for i in indices] if self.lines else []
        return LabelTable(
            [self.paths[i] for i in indices],
            self.labels[indices],
            [self.patients[i] for i in indices],
            self.findings,
            lines,
        )

    def label_counts(self) -> dict[str, dict[str, int]]:
        """How many images are positive, negative and ignored, per finding.

        Returns:
            Finding → `{"positive", "negative", "ignored"}` counts.

        Example:
            >>> table.label_counts()["Effusion"]
            {'positive': 12, 'negative': 88, 'ignored': 0}
        """
        return {
            name: {
                "positive": int(np.sum(column == 1)),
                "negative": int(np.sum(column == 0)),
                "ignored": int(np.sum(np.isnan(column))),
            }
            for name, column in zip(self.findings, self.labels.T)
        }

    def read_images(
        self, image_size: int, color_mode: str = "rgb", progress: bool = False
    ) -> np.ndarray:
        """Decodes every image (JPEG, PNG or DICOM) at the model's size.

        Args:
            image_size: Side of the square output images.
            color_mode: "rgb" or "grayscale". Defaults to "rgb".
            progress: Show a progress bar. Defaults to False.

        Returns:
            uint8 `(N, image_size, image_size, 3 or 1)`, rows in table order.

        Raises:
            FileNotFoundError: A file has gone since the CSV was read.
            ValueError: A file cannot be decoded (see `keras_cxr.data.read_images`).

        Example:
            >>> images = table.take(range(8)).read_images(96)
        """
        return read_images(self.paths, image_size, color_mode, progress)


def split_label_table(
    table: LabelTable, val_fraction: float = 0.1, test_fraction: float = 0.0, seed: int = 0
) -> dict[str, LabelTable]:
    """Splits a `LabelTable` by patient into train, validation and (optionally) test.

    No patient has images in two splits. Patients are stratified by whether any of their
    images shows a finding, so the share of abnormal studies stays about the same in each
    split (`keras_cxr.data.split_by_patient` does the work: test is carved out first,
    then validation from the rest).

    Args:
        table: The table to split.
        val_fraction: Share of the images moved to validation, in [0, 1). Defaults to 0.1.
        test_fraction: Share moved to test, in [0, 1). Defaults to 0 (no test split).
        seed: Seed of the split. Defaults to 0.

    Returns:
        `{"train", "val"}` (and `"test"` when `test_fraction > 0`) → `LabelTable`.

    Raises:
        ValueError: A fraction is outside [0, 1), or they add up to 1 or more.

    Example:
        >>> splits = keras_cxr.data.split_label_table(table, val_fraction=0.2)
        >>> sorted(splits)
        ['train', 'val']
    """
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise invalid_value(name, "a float in [0, 1)", value)
    if val_fraction + test_fraction >= 1:
        raise invalid_value(
            "val_fraction", f"val_fraction + test_fraction < 1 (test is {test_fraction})",
            val_fraction,
        )  # fmt: skip
    abnormal = (np.nan_to_num(table.labels, nan=0.0) == 1).any(axis=1).astype(int).tolist()
    rest = np.arange(len(table))
    splits = {}
    if test_fraction > 0:
        is_test = split_by_patient(table.patients, abnormal, test_fraction, seed)
        splits["test"] = table.take(rest[is_test])
        rest = rest[~is_test]
    share = val_fraction / (1 - test_fraction)
    is_val = split_by_patient(
        [table.patients[i] for i in rest], [abnormal[i] for i in rest], share, seed
    )
    result = {"train": table.take(rest[~is_val]), "val": table.take(rest[is_val])}
    return {**result, **splits}
