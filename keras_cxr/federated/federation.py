"""`federate`: FedAvg rounds over sites, resumable, ending in a calibrated `model.keras`.

Each round every site trains the global weights on its own images
(`keras_cxr.federated.train_site`) and the server averages what comes back, weighted by
the sites' training images (`keras_cxr.federated.federated_average`); with
`dp_clipping_norm`, the sites' updates are clipped and the average gets Gaussian noise
(`keras_cxr.federated.DifferentialPrivacy`). The new global model
is then graded on each site's validation images, on all of them pooled and on the held-out
test images, from logits the sites send (`keras_cxr.federated.site_logits`). After the
last round the temperature and threshold are fitted on the pooled validation logits
(`keras_cxr.federated.calibrate_across_sites`) and the model is saved with them, as
`train` saves its model: `keras-cxr evaluate`, `explain`, `report` and `serve` read it
like any other.

Here the sites run one after another in this process (a simulation, deterministic for a
seed); `keras_cxr.federated.flower` runs the same `train_site` in Flower's `ClientApp` on
real sites.

The run folder `out`:

- `federation.json`: the settings and their fingerprint;
- `rounds/global_<k>.npz`: the global weights after round k (round 0: the initial ones);
- `rounds.csv`, `rounds.png`: the metrics of every round (`keras_cxr.federated.round_table`);
- `federation_state.json`: the last completed round, written after its weights and rows,
  so a run killed at any moment resumes (`resume=True`) at the round after it;
- `sites/<site>/round_<k>/`: each site's local history and Grad-CAM grids;
- `model.keras`, `federated_summary.json`: the final model and its metrics.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from keras_cxr.atomic import atomic_write, atomic_write_json
from keras_cxr.data.image_splits import ImageSet
from keras_cxr.federated.aggregation import federated_average
from keras_cxr.federated.client import site_logits, train_site
from keras_cxr.federated.config import FederatedConfig
from keras_cxr.federated.final_model import save_federated_model
from keras_cxr.federated.privacy import DifferentialPrivacy, add_noise, clip_update
from keras_cxr.federated.round_table import (
    ALL_SITES,
    HELD_OUT,
    logit_row,
    read_rows,
    write_plot,
    write_rows,
)
from keras_cxr.federated.site_data import Site, load_sites_of
from keras_cxr.models.prediction import predict_logits
from keras_cxr.training.config import TrainConfig
from keras_cxr.training.model_building import build_model
from keras_cxr.training.run_folder import (
    MODEL_FILE,
    RunExistsError,
    holds_run,
    prepare_run_folder,
)

SETTINGS_FILE, STATE_FILE = "federation.json", "federation_state.json"
ROUNDS_CSV, ROUNDS_PNG, SUMMARY_FILE = "rounds.csv", "rounds.png", "federated_summary.json"
ROUNDS_FOLDER, SITES_FOLDER = "rounds", "sites"
_OUTPUTS = (
    SETTINGS_FILE,
    STATE_FILE,
    ROUNDS_CSV,
    ROUNDS_PNG,
    SUMMARY_FILE,
    ROUNDS_FOLDER,
    SITES_FOLDER,
)


@dataclass
class FederatedResult:
    """What `keras_cxr.federated.federate` produced.

    Attributes:
        model: The final global model.
        model_path: `<out>/model.keras`, temperature and threshold inside.
        rounds: Rounds completed.
        resumed_at: The round an interrupted run continued at, or None.
        threshold: Decision threshold on calibrated probabilities, from the pooled
            validation logits.
        temperature: Temperature fitted on them.
        val_metrics: `keras_cxr.metrics.classification_report` of the pooled validation
            logits, calibrated, at `threshold`.
        test_metrics: The same on the held-out test images (and the sites' own tests),
            or None without any.
        site_metrics: Site → its validation report at `threshold`.
        rows: Every row of `rounds.csv`.
        timings: Seconds: "load", "rounds", "local_training", "final", "total".
        out: The run folder.

    Example:
        >>> result = keras_cxr.federated.federate(config)
        >>> result.test_metrics["roc_auc"]
    """

    model: keras.Model
    model_path: Path
    rounds: int
    resumed_at: int | None
    threshold: float
    temperature: float
    val_metrics: dict[str, Any]
    test_metrics: dict[str, Any] | None
    site_metrics: dict[str, dict[str, Any]]
    rows: list[dict] = field(repr=False)
    timings: dict[str, float]
    out: Path


def federate(
    config: FederatedConfig,
    sites: list[Site] | None = None,
    held_out: ImageSet | None = None,
    model_builder: Callable[[TrainConfig], keras.Model] = build_model,
) -> FederatedResult:
    """Trains a model across sites with FedAvg, then calibrates and saves it.

    See the module docstring for the rounds and the run folder.

    Args:
        config: The settings.
        sites: Already loaded sites; None loads them with `keras_cxr.federated.load_sites`.
        held_out: Held-out test images, with `sites` (ignored when `sites` is None).
        model_builder: Builds the untrained model from the local settings. Defaults to
            `keras_cxr.training.build_model` (the recipe's `StackedEnsemble`); any binary
            model whose output is a sigmoid `Activation` after a `"logits"` layer works.

    Returns:
        A `FederatedResult`.

    Raises:
        ValueError: For invalid settings or data.
        RunExistsError: If `out` holds a run and neither `resume` nor `overwrite` is set,
            or `resume` is set for a run with other settings.

    Example:
        >>> config = keras_cxr.federated.FederatedConfig("chest_xray", "label:3", rounds=5)
        >>> result = keras_cxr.federated.federate(config)
    """
    started = time.perf_counter()
    config.validate()
    train_config = config.train_config()
    out = _prepare(config)
    timings: dict[str, float] = {}
    if sites is None:
        tic = time.perf_counter()
        sites, held_out = load_sites_of(config)
        timings["load"] = time.perf_counter() - tic
    keras.utils.set_random_seed(config.seed)
    model = model_builder(train_config)
    completed, weights, rows = _start(config, out, model)
    resumed_at = completed + 1 if config.resume and completed else None
    if resumed_at is not None and config.progress:
        print(
            f"Resuming the federated run at round {resumed_at} of {config.rounds}."
            if resumed_at <= config.rounds
            else f"All {completed} rounds were done; calibrating and saving the model again."
        )
    privacy = config.privacy()
    tic_rounds, local = time.perf_counter(), 0.0
    for round_ in range(completed + 1, config.rounds + 1):
        tic = time.perf_counter()
        updates = []
        for index, site in enumerate(sites):
            # Per round and site, so a resumed run draws what an uninterrupted one would.
            keras.utils.set_random_seed(config.seed + 1000 * round_ + index)
            local_config = dataclasses.replace(train_config, seed=config.seed + round_)
            folder = out / SITES_FOLDER / _folder_name(site.name) / f"round_{round_:03d}"
            updates.append(train_site(model, local_config, site, weights, folder))
        weights = _aggregate(updates, weights, privacy, (config.seed, round_))
        model.set_weights(weights)
        new_rows = _evaluate(model, round_, sites, held_out, train_config.batch_size)
        for row, update in zip(new_rows, updates):
            row["local_seconds"] = round(update.seconds, 3)
        new_rows[-1]["round_seconds"] = round(time.perf_counter() - tic, 3)
        local += sum(u.seconds for u in updates)
        rows += new_rows
        _commit_round(out, round_, weights, rows, config.fingerprint())
        if config.progress:
            print(_progress_line(round_, config.rounds, new_rows))
    timings["rounds"] = time.perf_counter() - tic_rounds
    timings["local_training"] = local
    tic = time.perf_counter()
    result = {**_finish(config, train_config, model, sites, held_out), "rounds": rows}
    timings["final"] = time.perf_counter() - tic
    timings["total"] = time.perf_counter() - started
    atomic_write_json(out / SUMMARY_FILE, {**result, "timings_s": timings})
    return FederatedResult(
        model=model,
        model_path=out / MODEL_FILE,
        rounds=config.rounds,
        resumed_at=resumed_at,
        threshold=result["threshold"],
        temperature=result["temperature"],
        val_metrics=result["val_metrics"],
        test_metrics=result["test_metrics"],
        site_metrics=result["site_metrics"],
        rows=rows,
        timings=timings,
        out=out,
    )


def _aggregate(updates, start, privacy: DifferentialPrivacy | None, seed) -> list[np.ndarray]:
    """FedAvg of the sites' weights; with privacy, of their clipped updates, plus noise."""
    site_weights = [update.weights for update in updates]
    if privacy is not None:
        site_weights = [clip_update(w, start, privacy.clipping_norm) for w in site_weights]
    averaged = federated_average(site_weights, [update.num_examples for update in updates])
    if privacy is None or privacy.noise_multiplier == 0:
        return averaged
    # Seeded by round, so that a resumed run adds the noise an uninterrupted one would.
    return add_noise(averaged, privacy.noise_stddev(len(updates)), np.random.default_rng(seed))


def _prepare(config: FederatedConfig) -> Path:
    """The run folder: a new one, the interrupted run's (same settings), or cleared."""
    out = Path(config.out)
    if config.overwrite and not config.resume:
        for name in _OUTPUTS:
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    settings = out / SETTINGS_FILE
    if config.resume and holds_run(out) and not settings.is_file():
        raise RunExistsError(
            f"{str(out)!r} holds a training run that is not a federated one; --resume "
            "continues federated runs only. Pick another --out."
        )
    out = prepare_run_folder(out, config.resume, config.overwrite)
    if config.resume and settings.is_file():
        stored = json.loads(settings.read_text())
        if stored.get("fingerprint") != config.fingerprint():
            raise RunExistsError(
                f"{str(out)!r} holds a federated run with other settings; it can only be "
                "resumed with the same ones (only --rounds may change). Pass --overwrite "
                "to start over, or pick another --out."
            )
    atomic_write_json(settings, {"fingerprint": config.fingerprint(), **config.to_dict()})
    return out


def _start(config, out: Path, model: keras.Model) -> tuple[int, list[np.ndarray], list[dict]]:
    """`(completed rounds, global weights, rows)`: from the last committed round, or fresh."""
    state_path = out / STATE_FILE
    if config.resume and state_path.is_file():
        state = json.loads(state_path.read_text())
        completed = int(state["completed_rounds"])
        with np.load(out / state["weights"]) as stored:
            weights = [stored[f"arr_{i}"] for i in range(len(stored.files))]
        return completed, weights, read_rows(out / ROUNDS_CSV, up_to_round=completed)
    weights = [np.asarray(w) for w in model.get_weights()]
    _save_weights(out, 0, weights)
    return 0, weights, []


def _save_weights(out: Path, round_: int, weights: list[np.ndarray]) -> str:
    relative = f"{ROUNDS_FOLDER}/global_{round_:03d}.npz"
    (out / ROUNDS_FOLDER).mkdir(parents=True, exist_ok=True)
    atomic_write(out / relative, lambda p: np.savez(p, *weights), suffix=".npz")
    return relative


def _commit_round(out: Path, round_: int, weights, rows, fingerprint: str) -> None:
    """Weights, then the table and plot, then the state that points at them (last)."""
    relative = _save_weights(out, round_, weights)
    write_rows(out / ROUNDS_CSV, rows)
    write_plot(out / ROUNDS_PNG, rows)
    atomic_write_json(
        out / STATE_FILE,
        {"fingerprint": fingerprint, "completed_rounds": round_, "weights": relative},
    )


def _evaluate(model, round_: int, sites, held_out, batch_size: int) -> list[dict]:
    """A row per site's validation, the pooled validation, site tests and the held-out set."""
    rows, pooled, tests = [], [], []
    for site in sites:
        found = site_logits(model, site, batch_size)
        rows.append(logit_row(round_, site.name, "val", *found["val"]))
        pooled.append(found["val"])
        if "test" in found:
            tests.append(found["test"])
    labels, logits = (np.concatenate(parts) for parts in zip(*pooled))
    rows.append(logit_row(round_, ALL_SITES, "val", labels, logits))
    test = _test_logits(model, held_out, tests, batch_size)
    if test is not None:
        rows.append(logit_row(round_, HELD_OUT, "test", *test))
    return rows


def _test_logits(model, held_out, site_tests, batch_size):
    """The held-out images' `(labels, logits)` and the sites' own tests, pooled; or None."""
    parts = list(site_tests)
    if held_out is not None and len(held_out):
        parts.append((held_out.labels, predict_logits(model, held_out.images, batch_size)[:, 0]))
    if not parts:
        return None
    return tuple(np.concatenate(values) for values in zip(*parts))


def _finish(config, train_config, model, sites, held_out) -> dict[str, Any]:
    """The sites' final validation logits and the test logits, into the saved model."""
    privacy = config.privacy()
    batch = train_config.batch_size
    logits_of = {site.name: site_logits(model, site, batch) for site in sites}
    tests = [found["test"] for found in logits_of.values() if "test" in found]
    return save_federated_model(
        config,
        model,
        {name: found["val"] for name, found in logits_of.items()},
        {site.name: len(site.splits.train) for site in sites},
        _test_logits(model, held_out, tests, batch),
        sites[0].splits.class_names,
        None if privacy is None else privacy.metadata(len(sites), config.rounds),
    )


def _folder_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _progress_line(round_: int, rounds: int, rows: list[dict]) -> str:
    parts = [f"{row['site']} {row['split']} AUC {row['roc_auc']:.3f}" for row in rows]
    return f"round {round_}/{rounds}: " + ", ".join(parts) + f" ({rows[-1]['round_seconds']:.1f} s)"


__all__ = ["FederatedResult", "federate"]
