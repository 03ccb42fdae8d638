"""The output folder of a training run: its file names, and the rules that protect it.

A run folder is marked by the file `.keras_cxr_run`, written before anything else. A
folder that holds a run can be resumed (`resume=True`) or started over
(`overwrite=True`); a folder that holds other files is refused unless `overwrite=True`,
so a user's own `model.keras` is never replaced by accident.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from keras_cxr._output_folder import check_writable

MODEL_FILE = "model.keras"
HISTORY_FILE = "history.csv"
SUMMARY_FILE = "train_summary.json"
CONFIG_FILE = "config.json"
CHECKPOINTS_FOLDER = "checkpoints"
SNAPSHOT_FOLDER = "checkpoints/last"
MARKER_FILE = ".keras_cxr_run"
#: The model card `train` writes beside the model (`keras_cxr.training.model_cards`).
CARD_JSON, CARD_MARKDOWN = "model_card.json", "MODEL_CARD.md"
#: What `overwrite=True` removes of an earlier run before the new one starts (the model
#: file is replaced atomically at the end, its predecessor kept as `model.keras.prev`).
RUN_OUTPUTS = ("checkpoints", "logs", "cache", HISTORY_FILE, SUMMARY_FILE, CARD_JSON, CARD_MARKDOWN)


class RunExistsError(FileExistsError):
    """The output folder already holds a training run, or files that are not one.

    Example:
        >>> try:
        ...     keras_cxr.training.train(config)
        ... except keras_cxr.training.RunExistsError:
        ...     result = keras_cxr.training.train(dataclasses.replace(config, resume=True))
    """


def holds_run(out: str | os.PathLike) -> bool:
    """Whether `out` holds a keras_cxr training run (its marker, history or snapshot).

    Args:
        out: A folder.

    Returns:
        True for a run folder, also one written before runs were marked.

    Example:
        >>> keras_cxr.training.run_folder.holds_run("runs/offline")
        True
    """
    out = Path(out)
    return any(
        (out / name).exists()
        for name in (MARKER_FILE, HISTORY_FILE, SNAPSHOT_FOLDER, f"{SNAPSHOT_FOLDER}.prev")
    )


def prepare_run_folder(out: str | os.PathLike, resume: bool, overwrite: bool) -> Path:
    """Creates or reopens the run folder `out`, refusing to mix two runs or to clobber files.

    | `out` holds        | neither flag      | `resume`                | `overwrite`            |
    |--------------------|-------------------|-------------------------|------------------------|
    | nothing            | new run           | new run                 | new run                |
    | a keras_cxr run    | `RunExistsError`  | continued (caller)      | its outputs removed    |
    | other files        | `RunExistsError`  | `RunExistsError`        | new run beside them    |

    Args:
        out: The folder.
        resume: The run is to continue an interrupted one.
        overwrite: An earlier run (or other files) may be replaced.

    Returns:
        `out` as a `Path`, created, writable and marked as a run folder.

    Raises:
        RunExistsError: As in the table.
        OSError: If the folder cannot be created or written.

    Example:
        >>> keras_cxr.training.run_folder.prepare_run_folder("runs/x", False, False)
        PosixPath('runs/x')
    """
    out = Path(out)
    check_writable(out)
    is_run = holds_run(out)
    has_files = out.is_dir() and any(out.iterdir())
    if has_files and not is_run and not overwrite:
        raise RunExistsError(
            f"{str(out)!r} holds files but no keras_cxr training run; refusing to write a "
            "model into it. Pick a new or empty output folder, or pass overwrite=True "
            "(--overwrite) to write the run beside those files."
        )
    if is_run and not resume:
        if not overwrite:
            raise RunExistsError(
                f"{str(out)!r} already holds a training run. Continue it with resume=True "
                "(--resume), start over with overwrite=True (--overwrite), or pick another "
                "output folder."
            )
        _remove_outputs(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER_FILE).write_text(
        "Written by keras_cxr.training.train: this folder holds a training run.\n"
    )
    return out


def _remove_outputs(out: Path) -> None:
    for name in RUN_OUTPUTS:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
