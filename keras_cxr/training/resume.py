"""Where an interrupted training run stands, read from its last snapshot.

`TrainingSnapshot` (see `keras_cxr.training.checkpoints`) writes the state of a run after
every epoch. `ResumeState` is that state read back and checked against the configuration;
`StageResume` says, for one stage, whether it finished or from which epoch it continues.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keras_cxr.training.checkpoints import read_snapshot
from keras_cxr.training.run_folder import HISTORY_FILE, SNAPSHOT_FOLDER, RunExistsError

#: The stages of a run, in the order they train.
STAGES = ("main", "fine_tune")


@dataclass(frozen=True)
class StageResume:
    """How one stage continues from a snapshot.

    Attributes:
        stage: The stage name.
        done: The stage had finished (or stopped early): load its best weights and move on.
        next_epoch: 0-based epoch to continue from (when not `done`).
        weights: The snapshot's weights file (weights and optimizer state).
        callback_state: What `TrainingSnapshot` saved of the callbacks, to restore them.
        best_epoch: 0-based best epoch of the stage so far, or None.
    """

    stage: str
    done: bool
    next_epoch: int
    weights: Path
    callback_state: dict[str, Any]
    best_epoch: int | None


@dataclass(frozen=True)
class ResumeState:
    """The last snapshot of an interrupted run.

    Attributes:
        stage: The stage the snapshot was taken in.
        epoch: Its last completed 0-based epoch.
        stopped: Whether early stopping ended that stage.
        weights: The weights file of the snapshot.
        callback_state: The whole saved state (callbacks, learning rate, logs).

    Example:
        >>> state = keras_cxr.training.ResumeState.read("runs/x", config.fingerprint())
        >>> state.stage, state.epoch
        ('main', 3)
    """

    stage: str
    epoch: int
    stopped: bool
    weights: Path
    callback_state: dict[str, Any]

    @classmethod
    def read(cls, out: str | os.PathLike, fingerprint: str) -> ResumeState | None:
        """Reads the snapshot of the run in `out`, checking it was made with these settings.

        Args:
            out: The run folder.
            fingerprint: `TrainConfig.fingerprint()` of the settings to resume with.

        Returns:
            The state, or None when `out` holds no run at all (a fresh start).

        Raises:
            RunExistsError: If `out` holds a run without a snapshot, or one made with
                other settings.

        Example:
            >>> keras_cxr.training.ResumeState.read("runs/new", "abc") is None
            True
        """
        out = Path(out)
        snapshot = read_snapshot(out / SNAPSHOT_FOLDER)
        if snapshot is None:
            if (out / HISTORY_FILE).exists():
                raise RunExistsError(
                    f"{str(out)!r} holds a run without a resume snapshot; start over with "
                    "overwrite=True (--overwrite)."
                )
            return None
        state, weights = snapshot
        if state.get("fingerprint") != fingerprint:
            raise RunExistsError(
                f"The run in {str(out)!r} was made with other settings; resume it with the "
                "same settings, or start over with overwrite=True (--overwrite)."
            )
        return cls(
            stage=state["stage"],
            epoch=int(state["epoch"]),
            stopped=bool(state["stopped"]),
            weights=weights,
            callback_state=state,
        )

    def for_stage(self, stage: str, epochs: int) -> StageResume | None:
        """How `stage` continues: None if it had not started when the snapshot was taken.

        Args:
            stage: A name of `STAGES`.
            epochs: The stage's number of epochs.

        Returns:
            A `StageResume`, or None for a stage that starts afresh.

        Example:
            >>> state.for_stage("main", epochs=8).next_epoch
            4
        """
        best_epoch = self.callback_state.get("best_checkpoint", {}).get("best_epoch")
        if STAGES.index(self.stage) > STAGES.index(stage):
            return StageResume(stage, True, epochs, self.weights, self.callback_state, None)
        if self.stage != stage:
            return None
        done = self.stopped or self.epoch + 1 >= epochs
        return StageResume(
            stage, done, self.epoch + 1, self.weights, self.callback_state, best_epoch
        )
