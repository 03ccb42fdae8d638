"""`run_demo`: the whole pipeline on synthetic phantoms, in a few minutes, without downloads."""

from __future__ import annotations

import os
import resource
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keras_cxr.atomic import atomic_write_json
from keras_cxr.data.image_splits import load_image_folder
from keras_cxr.data.sampling import balanced_sample
from keras_cxr.data.synthetic import write_chest_xray
from keras_cxr.training.config import TrainConfig
from keras_cxr.training.explaining import explain_files
from keras_cxr.training.history import read_history
from keras_cxr.training.reporting import write_report
from keras_cxr.training.run_folder import RunExistsError
from keras_cxr.training.trainer import train

SUMMARY_FILE = "demo_summary.json"
# Written first into a demo folder, so a later demo knows it may replace the folder.
_MARKER = ".keras_cxr_demo"


@dataclass
class DemoResult:
    """Where `run_demo` wrote everything, and how well the model did.

    Attributes:
        out: The demo folder.
        model_path: The trained model (`model.keras`, threshold inside).
        report_path: The HTML report.
        metrics_path: `metrics.json` of the test split.
        explanations: The Grad-CAM figures of a few test images.
        test_metrics: Accuracy, sensitivity, specificity, PPV, NPV, ROC AUC, ECE on test.
        val_metrics: The same on validation, where the threshold was chosen.
        wall_time: Seconds from start to end.
        cpu_time: CPU seconds used by the process (all threads).
        timings: Seconds per step.

    Example:
        >>> result = keras_cxr.training.run_demo("runs/demo")
        >>> result.test_metrics["accuracy"]
        0.97
    """

    out: Path
    model_path: Path
    report_path: Path
    metrics_path: Path
    explanations: list[Path]
    test_metrics: dict[str, Any]
    val_metrics: dict[str, Any]
    wall_time: float
    cpu_time: float
    timings: dict[str, float] = field(default_factory=dict)


def run_demo(
    out: str | os.PathLike = "runs/demo",
    n_train: int = 800,
    n_test: int = 200,
    image_size: int = 64,
    epochs: int | None = None,
    explain_count: int = 6,
    seed: int = 0,
    progress: bool = True,
) -> DemoResult:
    """Runs the reference pipeline end to end on synthetic chest X-ray phantoms.

    1. Writes `n_train` + `n_test` phantoms (`keras_cxr.data.synthetic`, half with
       pneumonia-like consolidations) to `out/data/` in the Kermany layout.
    2. Trains the "demo" recipe (`keras_cxr.training.RECIPES`): a `StackedEnsemble` of
       two compact CNNs (`cnn_3x3`, `cnn_7x7`) trained end to end from scratch, with
       the validation split carved out by patient and the threshold chosen on it.
    3. Evaluates on the test split: `metrics.json`, `roc.png`, `reliability.png`,
       `confusion_matrix.png`.
    4. Explains `explain_count` test images with Grad-CAM into `out/gradcam/`.
    5. Writes the HTML report `out/report.html`.

    Nothing is downloaded. `out` must be empty, absent or a previous demo folder (which
    is replaced).

    Args:
        out: The demo folder. Defaults to "runs/demo".
        n_train: Phantoms in `train/` (20% go to validation). Defaults to 800.
        n_test: Phantoms in `test/`. Defaults to 200.
        image_size: Side of the phantoms and of the model input. Defaults to 64.
        epochs: Training epochs; None for the recipe's 8.
        explain_count: Test images explained. Defaults to 6.
        seed: Seed of the phantoms, the split and the training. Defaults to 0.
        progress: Show progress bars. Defaults to True.

    Returns:
        A `keras_cxr.training.DemoResult`.

    Raises:
        RunExistsError: If `out` holds files that are not a previous demo.
        OSError: If `out` cannot be written.

    Example:
        >>> result = keras_cxr.training.run_demo("runs/demo")
        >>> print(result.report_path)
        runs/demo/report.html
    """
    import keras

    started = time.perf_counter()
    cpu_started = _cpu_seconds()
    out = Path(out)
    prepare_demo_folder(out)
    keras.utils.set_random_seed(seed)
    timings: dict[str, float] = {}

    tic = time.perf_counter()
    data = write_chest_xray(
        out / "data", n_train=n_train, n_test=n_test, image_size=image_size, seed=seed
    )
    timings["phantoms"] = time.perf_counter() - tic

    overrides: dict[str, Any] = {
        "data": data,
        "out": out,
        "image_size": image_size,
        "val_fraction": 0.2,
        "seed": seed,
        "overwrite": True,
        "progress": progress,
    }
    if epochs is not None:
        overrides["epochs"] = epochs
    config = TrainConfig.recipe("demo", **overrides)
    result = train(config)
    timings.update({f"train_{k}": v for k, v in result.timings.items()})

    tic = time.perf_counter()
    test = load_image_folder(data / "test", image_size, progress=False)
    from keras_cxr.training.evaluation import evaluate_model

    evaluation = evaluate_model(
        result.model,
        test.images,
        test.labels,
        result.threshold,
        "validation",
        temperature=result.temperature,
        groups=test.patients,
    )
    written = evaluation.save(out, extra={"model": result.model_path, "data": data / "test"})
    timings["evaluate"] = time.perf_counter() - tic

    tic = time.perf_counter()
    chosen = balanced_sample(test.labels, explain_count)
    explained = explain_files(
        result.model,
        [test.paths[i] for i in chosen],
        out / "gradcam",
        threshold=result.threshold,
        temperature=result.temperature,
    )
    timings["explain"] = time.perf_counter() - tic

    tic = time.perf_counter()
    report = write_report(
        result.model,
        test,
        out / "report.html",
        threshold=result.threshold,
        threshold_source="validation split (20% of train/, by patient)",
        temperature=result.temperature,
        title="keras_cxr demo: pneumonia vs normal on synthetic phantoms",
        subtitle=f"model {result.model_path} · test data {data / 'test'}",
        history=read_history(out / "history.csv"),
        gallery_size=4,
        mc_samples=20,
    )
    timings["report"] = time.perf_counter() - tic

    wall, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_started
    demo = DemoResult(
        out=out,
        model_path=result.model_path,
        report_path=report.path,
        metrics_path=written["metrics"],
        explanations=[e.figure for e in explained],
        test_metrics=evaluation.metrics,
        val_metrics=result.val_metrics,
        wall_time=wall,
        cpu_time=cpu,
        timings=timings,
    )
    atomic_write_json(
        out / SUMMARY_FILE,
        {
            "model": demo.model_path,
            "report": demo.report_path,
            "metrics": demo.metrics_path,
            "explanations": demo.explanations,
            "test_metrics": demo.test_metrics,
            "val_metrics": demo.val_metrics,
            "wall_time_s": wall,
            "cpu_time_s": cpu,
            "timings_s": timings,
        },
    )
    return demo


def prepare_demo_folder(out: Path) -> None:
    """Empties `out` for a new demo, refusing any folder that holds something else.

    A demo folder is marked by `.keras_cxr_demo`, written first; only a folder with that
    marker (or an empty or absent one) is replaced, so a mistyped `--out` never deletes
    the user's files.

    Args:
        out: The demo folder.

    Raises:
        NotADirectoryError: If `out` is a file.
        RunExistsError: If `out` holds files but no previous demo.

    Example:
        >>> keras_cxr.training.demo.prepare_demo_folder(Path("runs/demo"))
    """
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"The demo output {str(out)!r} is a file; pass a folder.")
    if out.is_dir() and any(out.iterdir()):
        if not (out / _MARKER).is_file():
            raise RunExistsError(
                f"{str(out)!r} is not empty and holds no previous demo; pass an empty or new "
                "folder with --out."
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / _MARKER).write_text("Written by `keras-cxr demo`; a new demo replaces this folder.\n")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
