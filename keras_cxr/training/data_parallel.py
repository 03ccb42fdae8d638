"""Data-parallel training: the device scope, synchronised BatchNorm, batches that split evenly.

With `TrainConfig(distribute=True)` the whole run happens in
`keras_cxr.backend.data_parallel` (TensorFlow `MirroredStrategy`, JAX
`keras.distribution.DataParallel`), and each stage's `fit` in
`keras_cxr.backend.synchronized_batchnorm`. Every batch must split evenly between the
devices (JAX refuses uneven shards), so:

- under JAX (`keras_cxr.backend.EVEN_BATCHES`), training batches are all full: each
  epoch's last partial batch is dropped (the shuffle changes every epoch, so no image
  is always left out). Padding it instead would change the gradient (the loss is
  averaged over the padded batch) and the BatchNorm statistics. TensorFlow's
  `MirroredStrategy` splits the partial batch unevenly itself, and keeps it.
- validation and prediction inputs are padded to a multiple of the device count with
  copies of their last row, and the results cut back. Padded validation rows weigh 0
  and the real ones `padded / real`, which keeps `val_loss` (averaged over the padded
  count) and every weighted metric exactly those of the unpadded set.

On one device none of this runs: `devices == 1` leaves inputs as they are.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import keras
import numpy as np

if TYPE_CHECKING:
    from keras_cxr.training.config import TrainConfig


@contextlib.contextmanager
def training_devices(config: TrainConfig) -> Iterator[int]:
    """The devices a run trains on: all local ones with `config.distribute`, else one.

    Args:
        config: The settings; `distribute` and `batch_size` are read.

    Yields:
        The number of devices; with `distribute`, inside the backend's data-parallel
        scope (`keras_cxr.backend.data_parallel`).

    Raises:
        RuntimeError: With `distribute` and fewer than 2 devices.
        ValueError: With `distribute` and a batch size that is no multiple of the
            device count.
        NotImplementedError: With `distribute` under the PyTorch backend.

    Example:
        >>> with keras_cxr.training.data_parallel.training_devices(config) as devices:
        ...     model = keras_cxr.training.build_model(config)
    """
    if not config.distribute:
        yield 1
        return
    from keras_cxr.backend import data_parallel

    with data_parallel(config.batch_size) as devices:
        yield devices


def batchnorm_synchronized(model: keras.Model, devices: int) -> contextlib.AbstractContextManager:
    """`keras_cxr.backend.synchronized_batchnorm(model)` on several devices, else nothing.

    Args:
        model: The model about to be fitted.
        devices: The device count from `training_devices`.

    Returns:
        A context manager to fit `model` in.

    Example:
        >>> with keras_cxr.training.data_parallel.batchnorm_synchronized(model, 2):
        ...     model.fit(dataset)
    """
    if devices == 1:
        return contextlib.nullcontext()
    from keras_cxr.backend import synchronized_batchnorm

    return synchronized_batchnorm(model)


def drops_partial_batches(devices: int) -> bool:
    """Whether training on `devices` leaves out each epoch's last partial batch.

    Args:
        devices: The device count from `training_devices`.

    Returns:
        True on several devices of a backend whose batches must split evenly (JAX).

    Example:
        >>> keras_cxr.training.data_parallel.drops_partial_batches(1)
        False
    """
    if devices == 1:
        return False
    from keras_cxr.backend import EVEN_BATCHES

    return EVEN_BATCHES


def padded(array: np.ndarray, multiple: int) -> np.ndarray:
    """`array` with copies of its last row appended until its length is a multiple.

    Args:
        array: Rows on the first axis; at least one row when padding is needed.
        multiple: The device count.

    Returns:
        `array` itself when its length is already a multiple, else the padded copy.

    Example:
        >>> keras_cxr.training.data_parallel.padded(np.arange(3), 2)
        array([0, 1, 2, 2])
    """
    extra = -len(array) % multiple
    if not extra:
        return array
    return np.concatenate([array, np.repeat(array[-1:], extra, axis=0)])


def validation_data(
    inputs: np.ndarray, labels: np.ndarray, multiple: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validation `(inputs, labels (N, 1), weights)` padded to a multiple, metrics exact.

    Args:
        inputs: `(N, ...)` images or features.
        labels: `(N,)` labels.
        multiple: The device count.

    Returns:
        float32 arrays of `padded(N)` rows; the weights are 0 on the padding and
        `padded / N` on the real rows, so the weighted loss averaged over the padded
        count equals the plain loss averaged over `N`.

    Example:
        >>> x, y, w = keras_cxr.training.data_parallel.validation_data(images, labels, 2)
        >>> model.fit(train, validation_data=(x, y, w), validation_batch_size=32)
    """
    count = len(labels)
    inputs = padded(np.asarray(inputs, np.float32), multiple)
    weights = np.zeros(len(inputs), np.float32)
    weights[:count] = len(inputs) / count
    targets = padded(np.asarray(labels, np.float32), multiple)[:, None]
    return inputs, targets, weights
