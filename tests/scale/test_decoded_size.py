"""Archives refuse images over the decoded-size budget before decoding, with one reason."""

from __future__ import annotations

import shutil

import numpy as np

import keras_cxr
from keras_cxr.scale import read_results, read_skipped
from keras_cxr.scale.ray_stages import decode_batch
from tests.data._files import png_bomb, zero_png

_PIXELS = (
    "The image '{}': header claims 12000 × 12000 pixels, above the 100,000,000-pixel limit "
    "(possible decompression bomb)."
)
_BYTES = (
    "The image '{}': header claims 10000 × 10000 pixels of 3 channels at 16 bits: "
    "600,000,000 bytes decoded, above the 300,000,000-byte budget (possible decompression bomb)."
)


def _with_large_files(archive, tmp_path):
    root = shutil.copytree(archive / "test" / "NORMAL", tmp_path / "scans" / "NORMAL")
    large = zero_png(root / "large.png", 12_000, 12_000)  # 140 kB on disk, complete
    deep = png_bomb(root / "deep.png", 10_000, 10_000, 16, 2)
    return root.parent, large, deep


def test_explain_folder_and_the_ray_stage_skip_them_with_the_same_reason(
    explainer, archive, tmp_path
):
    scans, large, deep = _with_large_files(archive, tmp_path)
    summary = keras_cxr.explain_folder(explainer, scans, tmp_path / "out", progress=False)
    assert (summary.explained, summary.skipped) == (3, 2)
    skipped = read_skipped(tmp_path / "out")
    reasons = dict(zip(skipped["path"], skipped["reason"]))
    assert reasons == {str(large): _PIXELS.format(large), str(deep): _BYTES.format(deep)}
    assert len(read_results(tmp_path / "out")["path"]) == 3

    rows = decode_batch(
        {"path": np.array([str(large), str(deep)]), "label": np.array(["", ""])},
        explainer.image_size,
        explainer.color_mode,
    )
    assert list(rows["reason"]) == [_PIXELS.format(large), _BYTES.format(deep)]
