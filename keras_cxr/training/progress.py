"""`EpochProgress`: a tqdm progress bar per epoch of `fit`, with the epoch's metrics."""

from __future__ import annotations

import keras

_SHOWN = ("loss", "auc", "val_loss", "val_auc", "val_accuracy")


class EpochProgress(keras.callbacks.Callback):
    """Shows one tqdm bar per epoch (batches), then a line with the epoch's metrics.

    Use it with `fit(verbose=0)`: it replaces Keras's own progress output with a bar that
    also works in log files and notebooks, and names the training stage.

    Args:
        stage: Name shown before the epoch number, e.g. `"main"`.

    Example:
        >>> model.fit(x, y, epochs=5, verbose=0,
        ...           callbacks=[keras_cxr.training.EpochProgress("head")])
    """

    def __init__(self, stage: str = "train") -> None:
        super().__init__()
        self.stage = stage
        self._bar = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        from tqdm.auto import tqdm

        total = (self.params or {}).get("steps")
        epochs = (self.params or {}).get("epochs")
        self._bar = tqdm(
            total=total,
            desc=f"{self.stage} epoch {epoch + 1}/{epochs}",
            leave=False,
            unit="batch",
            mininterval=2.0,
        )

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._bar is not None:
            self._bar.update()
            if logs and "loss" in logs:
                self._bar.set_postfix(loss=f"{float(logs['loss']):.4f}", refresh=False)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        from tqdm.auto import tqdm

        elapsed = 0.0
        if self._bar is not None:
            elapsed = self._bar.format_dict.get("elapsed", 0.0)
            self._bar.close()
            self._bar = None
        shown = "  ".join(
            f"{key}={float(value):.4f}" for key, value in (logs or {}).items() if key in _SHOWN
        )
        epochs = (self.params or {}).get("epochs")
        tqdm.write(f"{self.stage} epoch {epoch + 1}/{epochs} ({elapsed:.1f} s)  {shown}")

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
