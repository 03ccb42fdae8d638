"""The `keras-cxr` command line: a thin layer over `keras_cxr.training`.

Commands: `demo` (the whole pipeline on synthetic phantoms, no download), `train`,
`evaluate`, `explain`, `report` and `selfcheck`. Every command prints where its files went.
Errors print one line, `error: ...`, on stderr and exit with status 1 (2 for bad
arguments); `--debug` (anywhere on the line) shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

_EXIT_ERROR = 1
_EXIT_INTERRUPTED = 130


# --------------------------------------------------------------------------- commands


def _demo(args: argparse.Namespace) -> int:
    from keras_cxr.training import check_writable, run_demo

    check_writable(args.out)
    result = run_demo(
        args.out,
        n_train=args.n_train,
        n_test=args.n_test,
        image_size=args.image_size,
        epochs=args.epochs,
        seed=args.seed,
        progress=not args.quiet,
    )
    m = result.test_metrics
    print(
        f"\nDemo finished in {result.wall_time:.0f} s (CPU time {result.cpu_time:.0f} s).\n"
        f"Test split ({m['n']} phantoms, threshold {m['threshold']:.3f} chosen on validation): "
        f"accuracy {m['accuracy']:.3f}, sensitivity {m['sensitivity']:.3f}, specificity "
        f"{m['specificity']:.3f}, ROC AUC {m['roc_auc']:.3f}, ECE {m['ece']:.3f}.\n"
        f"Look at:\n"
        f"  report     {result.report_path}\n"
        f"  metrics    {result.metrics_path} (+ roc.png, reliability.png, confusion_matrix.png)\n"
        f"  Grad-CAM   {result.explanations[0].parent}/ and {result.out / 'logs' / 'gradcam'}/\n"
        f"  model      {result.model_path}\n"
        f"Next: keras-cxr explain --model {result.model_path} "
        f"{result.out / 'data' / 'test' / 'PNEUMONIA'}/*.jpeg --out {result.out / 'explained'}"
    )
    return 0


def _train(args: argparse.Namespace) -> int:
    from keras_cxr.training import TrainConfig, train

    recipe = args.recipe or ("offline" if args.weights == "none" else "seed")
    overrides = {
        "data": args.data,
        "out": args.out or f"runs/{recipe}",
        "resume": args.resume,
        "overwrite": args.overwrite,
        "progress": not args.quiet,
    }
    for option in (
        "image_size",
        "epochs",
        "batch_size",
        "learning_rate",
        "patience",
        "monitor",
        "augmented_views",
        "fine_tune_last",
        "fine_tune_epochs",
        "fine_tune_learning_rate",
        "val_fraction",
        "test_fraction",
        "max_images",
        "gradcam_images",
        "gradcam_every",
        "seed",
        "dropout",
    ):
        value = getattr(args, option)
        if value is not None:
            overrides[option] = value
    if args.weights is not None:
        overrides["weights"] = None if args.weights == "none" else args.weights
    if args.backbones is not None:
        overrides["backbones"] = tuple(b.strip() for b in args.backbones.split(",") if b.strip())
    if args.head_units is not None:
        overrides["head_units"] = tuple(int(u) for u in args.head_units.split(","))
    for flag in ("train_backbones", "augment"):
        if getattr(args, flag):
            overrides[flag] = True
    if args.no_cache_features:
        overrides["cache_features"] = False
    if args.no_tensorboard:
        overrides["tensorboard"] = False
    if args.no_class_weights:
        overrides["class_weights"] = False
    config = TrainConfig.recipe(recipe, **overrides)
    started = time.perf_counter()
    result = train(config)
    val = result.val_metrics
    lines = [
        f"\nTrained the {recipe!r} recipe in {time.perf_counter() - started:.0f} s "
        f"(best epoch {None if result.best_epoch is None else result.best_epoch + 1}).",
        f"Validation ({val['n']} images, threshold {result.threshold:.3f} chosen here): "
        f"ROC AUC {val['roc_auc']:.3f}, accuracy {val['accuracy']:.3f}, sensitivity "
        f"{val['sensitivity']:.3f}, specificity {val['specificity']:.3f}, ECE {val['ece']:.3f}.",
    ]
    if result.test_metrics is not None:
        t = result.test_metrics
        lines.append(
            f"Test ({t['n']} images): ROC AUC {t['roc_auc']:.3f}, accuracy {t['accuracy']:.3f}, "
            f"sensitivity {t['sensitivity']:.3f}, specificity {t['specificity']:.3f}."
        )
    for stage, epoch in result.resumed:
        lines.append(f"Resumed the interrupted {stage} stage at epoch {epoch + 1}.")
    lines.append(f"Model (threshold inside): {result.model_path}")
    lines.append(f"History: {result.out / 'history.csv'}; logs: {result.out / 'logs'}")
    print("\n".join(lines))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from keras_cxr.training import check_writable, evaluate_model, load_image_folder

    check_writable(args.out)
    model, threshold, source = _load_model_and_threshold(args.model, args.threshold)
    size = _square_input(model)
    data = load_image_folder(args.data, size, _color_mode(model), progress=not args.quiet)
    evaluation = evaluate_model(
        model,
        data.images,
        data.labels,
        threshold,
        source,
        args.batch_size,
        progress=not args.quiet,
    )
    out = Path(args.out)
    written = evaluation.save(out, extra={"model": args.model, "data": args.data})
    m = evaluation.metrics
    plots = ", ".join(path.name for key, path in written.items() if key != "metrics")
    print(
        f"{m['n']} images ({m['n_positive']} pneumonia), threshold {threshold:.3f} ({source}):\n"
        f"  accuracy {m['accuracy']:.4f}  sensitivity {m['sensitivity']:.4f}  specificity "
        f"{m['specificity']:.4f}  PPV {m['ppv']:.4f}  NPV {m['npv']:.4f}\n"
        f"  ROC AUC {m['roc_auc']:.4f}  ECE {m['ece']:.4f}  confusion [[TN, FP], [FN, TP]] = "
        f"{m['confusion_matrix']}\n"
        f"Wrote {written['metrics']} and {plots} in {out}"
    )
    return 0


def _explain(args: argparse.Namespace) -> int:
    from keras_cxr.training import check_writable, explain_files

    check_writable(args.out)
    model, threshold, _ = _load_model_and_threshold(args.model, args.threshold)
    results = explain_files(
        model, args.images, args.out, args.method, threshold, progress=not args.quiet
    )
    for item in results:
        print(f"{item.source}: {item.predicted} (p={item.probability:.3f}) -> {item.figure}")
    print(f"Wrote {len(results)} figures and predictions.json in {args.out}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from keras_cxr.training import check_writable, load_image_folder, read_history, write_report

    check_writable(Path(args.out).parent)
    model, threshold, source = _load_model_and_threshold(args.model, args.threshold)
    data = load_image_folder(
        args.data, _square_input(model), _color_mode(model), progress=not args.quiet
    )
    if args.max_images is not None and len(data) > args.max_images:
        data = data.take(_spread(len(data), args.max_images))
    history_file = Path(args.model).parent / "history.csv"
    result = write_report(
        model,
        data,
        args.out,
        threshold=threshold,
        threshold_source=source,
        method=args.method,
        gallery_size=args.gallery,
        mc_samples=args.mc_samples,
        title=f"keras_cxr report: {Path(args.model).name}",
        subtitle=f"model {args.model} · data {args.data}",
        history=read_history(history_file) if history_file.is_file() else None,
        progress=not args.quiet,
    )
    m = result.evaluation.metrics
    print(f"ROC AUC {m['roc_auc']:.4f}, accuracy {m['accuracy']:.4f} on {m['n']} images.")
    print(f"Wrote {result.path} (self-contained; open it in a browser).")
    return 0


def _selfcheck(args: argparse.Namespace) -> int:
    import numpy as np

    import keras_cxr

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    model = keras_cxr.StackedEnsemble(weights=None, input_shape=(args.size, args.size, 3))
    images = np.random.default_rng(0).uniform(0, 255, (2, args.size, args.size, 3))
    before = model.predict(images.astype("float32"), verbose=0)
    path = out / "stacked_ensemble.keras"
    model.save(path)
    after = keras_cxr.load_model(path).predict(images.astype("float32"), verbose=0)
    if not np.allclose(before, after, rtol=1e-5, atol=1e-6):
        raise RuntimeError("the reloaded model predicts differently")
    print(
        f"Built {model.name} ({', '.join(model.backbones)}; {model.count_params():,} "
        f"parameters), saved to {path}, reloaded with identical predictions in "
        f"{time.perf_counter() - start:.1f} s."
    )
    return 0


# --------------------------------------------------------------------------- helpers


def _load_model_and_threshold(path: str, threshold: float | None):
    """Loads a model and the threshold stored with it (`--threshold` overrides it)."""
    import keras_cxr
    from keras_cxr.training import read_metadata

    model = keras_cxr.load_model(path, compile=False)
    if threshold is not None:
        return model, threshold, "--threshold"
    stored = read_metadata(path).get("threshold")
    if stored is None:
        warnings.warn(
            f"{path} has no stored decision threshold (it was not saved by `keras-cxr train`); "
            "using 0.5. Pass --threshold to choose one.",
            stacklevel=2,
        )
        return model, 0.5, "default 0.5"
    return model, float(stored), "validation split, stored with the model"


def _square_input(model) -> int:
    shape = model.input_shape
    if len(shape) != 4 or shape[1] is None or shape[1] != shape[2]:
        raise ValueError(
            f"The model takes inputs of shape {shape}; keras-cxr needs a fixed square image "
            "input (batch, size, size, channels)."
        )
    return int(shape[1])


def _color_mode(model) -> str:
    return "grayscale" if model.input_shape[-1] == 1 else "rgb"


def _spread(total: int, count: int):
    import numpy as np

    return np.unique(np.linspace(0, total - 1, count).round().astype(int))


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `keras-cxr` (one sub-command per job).

    Returns:
        The `argparse.ArgumentParser`.

    Example:
        >>> keras_cxr.cli.build_parser().parse_args(["demo", "--out", "d"]).out
        'd'
    """
    from keras_cxr.explain import METHODS

    parser = argparse.ArgumentParser(
        prog="keras-cxr",
        description="Explainable chest X-ray classifiers for Keras 3. Start with "
        "`keras-cxr demo`: it trains, evaluates and explains a model on synthetic phantoms.",
        epilog="Add --debug anywhere to see the full traceback of an error.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    methods = sorted(METHODS)

    demo = commands.add_parser(
        "demo",
        help="train, evaluate and explain a model on synthetic phantoms (no download)",
        description="The whole pipeline on synthetic chest X-ray phantoms, in a few minutes "
        "on a CPU: data, training (two compact CNNs end to end), evaluation, Grad-CAM and an "
        "HTML report, all written into --out.",
    )
    demo.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    demo.add_argument(
        "--n-train",
        type=_positive_int,
        default=800,
        help="training phantoms, 20%% of them for validation (default: 800)",
    )
    demo.add_argument(
        "--n-test", type=_positive_int, default=200, help="test phantoms (default: 200)"
    )
    demo.add_argument(
        "--image-size", type=_positive_int, default=64, help="image side in pixels (default: 64)"
    )
    demo.add_argument(
        "--epochs",
        type=_positive_int,
        default=None,
        help="training epochs (default: the demo recipe's 8)",
    )
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(run=_demo)

    tr = commands.add_parser(
        "train",
        help="train a classifier on a Kermany-layout folder",
        description="Train on ROOT/{train,val,test}/{NORMAL,PNEUMONIA}/. The default 'seed' "
        "recipe: frozen ImageNet MobileNetV2 + DenseNet169 at 224 px, head trained on "
        "cached features (Adam 1e-4, batch 16, 20 epochs, early stopping 6, "
        "ReduceLROnPlateau, class weights). `--weights none` switches to the 'offline' "
        "recipe: two compact CNNs trained end to end at 128 px. Validation is split from "
        "train/ by patient; the decision threshold is chosen on it and stored in the model.",
    )
    tr.add_argument("--data", required=True, help="data folder (ROOT with train/)")
    tr.add_argument("--out", default=None, help="output folder (default: runs/<recipe>)")
    tr.add_argument(
        "--recipe",
        choices=("seed", "offline"),
        default=None,
        help="settings to start from (default: seed, or offline with --weights none)",
    )
    tr.add_argument(
        "--weights",
        default=None,
        metavar="imagenet|none|PATH",
        help="backbone weights: imagenet (download), none (offline recipe) or a "
        "StackedBackbones weights file",
    )
    tr.add_argument(
        "--backbones",
        default=None,
        help="comma-separated backbone names, e.g. mobilenet_v2,densenet169",
    )
    tr.add_argument("--image-size", type=_positive_int, default=None, help="input side (px)")
    tr.add_argument("--epochs", type=_positive_int, default=None)
    tr.add_argument("--batch-size", type=_positive_int, default=None)
    tr.add_argument("--learning-rate", type=float, default=None)
    tr.add_argument("--dropout", type=float, default=None)
    tr.add_argument("--head-units", default=None, help="comma-separated, e.g. 256,128")
    tr.add_argument(
        "--patience", type=_non_negative_int, default=None, help="early-stopping patience in epochs"
    )
    tr.add_argument("--monitor", choices=("val_loss", "val_auc", "val_accuracy"), default=None)
    tr.add_argument(
        "--augmented-views",
        type=_non_negative_int,
        default=None,
        metavar="K",
        help="fixed augmented views per image in the feature cache",
    )
    tr.add_argument(
        "--no-cache-features",
        action="store_true",
        help="recompute frozen backbones every batch (plain fit on images)",
    )
    tr.add_argument("--train-backbones", action="store_true", help="train the backbones end to end")
    tr.add_argument(
        "--augment", action="store_true", help="augment images on the fly when training on images"
    )
    tr.add_argument(
        "--fine-tune-last",
        type=_non_negative_int,
        default=None,
        metavar="N",
        help="then fine-tune the last N layers of each backbone",
    )
    tr.add_argument("--fine-tune-epochs", type=_non_negative_int, default=None, metavar="E")
    tr.add_argument("--fine-tune-lr", dest="fine_tune_learning_rate", type=float, default=None)
    tr.add_argument(
        "--val-fraction",
        type=float,
        default=None,
        help="share of train/ moved to validation by patient (default: 0.1)",
    )
    tr.add_argument(
        "--test-fraction",
        type=float,
        default=None,
        help="share of train/ moved to a test split by patient, for folders "
        "without test/ (default: 0)",
    )
    tr.add_argument(
        "--max-images",
        type=_positive_int,
        default=None,
        help="use at most this many images per split (quick runs)",
    )
    tr.add_argument(
        "--gradcam-images",
        type=_non_negative_int,
        default=None,
        help="validation images explained during training (0: none)",
    )
    tr.add_argument("--gradcam-every", type=_positive_int, default=None)
    tr.add_argument("--no-class-weights", action="store_true")
    tr.add_argument("--no-tensorboard", action="store_true")
    tr.add_argument("--seed", type=int, default=None)
    tr.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    tr.add_argument("--overwrite", action="store_true", help="replace a previous run in --out")
    tr.add_argument("--quiet", action="store_true", help="no progress bars")
    tr.set_defaults(run=_train)

    ev = commands.add_parser(
        "evaluate",
        help="metrics, ROC and calibration of a model on labelled images",
        description="Accuracy, sensitivity, specificity, PPV, NPV, ROC AUC, confusion matrix "
        "and calibration (ECE, reliability diagram) at the threshold stored with the model. "
        "Writes metrics.json, roc.png, reliability.png and confusion_matrix.png.",
    )
    ev.add_argument("--model", required=True, help="a .keras model file")
    ev.add_argument(
        "--data",
        required=True,
        help="a split folder with NORMAL/ and PNEUMONIA/ (e.g. ROOT/test), or ROOT",
    )
    ev.add_argument("--out", default="runs/evaluate", help="output folder (default: runs/evaluate)")
    ev.add_argument(
        "--threshold", type=float, default=None, help="override the stored decision threshold"
    )
    ev.add_argument("--batch-size", type=_positive_int, default=32)
    ev.add_argument("--quiet", action="store_true", help="no progress bars")
    ev.set_defaults(run=_evaluate)

    ex = commands.add_parser(
        "explain",
        help="heatmap overlays for image files",
        description="One figure per image (JPEG, PNG or DICOM, resized to the model input): "
        "the image, one overlay per backbone branch and the fused one, named after the "
        "prediction.",
    )
    ex.add_argument("--model", required=True, help="a .keras model file")
    ex.add_argument("images", nargs="+", help="image files")
    ex.add_argument("--out", required=True, help="output folder")
    ex.add_argument("--method", choices=methods, default="gradcam", help="CAM method")
    ex.add_argument(
        "--threshold", type=float, default=None, help="override the stored decision threshold"
    )
    ex.add_argument("--quiet", action="store_true", help="no progress bars")
    ex.set_defaults(run=_explain)

    rp = commands.add_parser(
        "report",
        help="a self-contained HTML report",
        description="One HTML file (images embedded): metrics, ROC, reliability, confusion "
        "matrix, and galleries of the most confident and most wrong cases with overlays and "
        "MC-dropout uncertainty.",
    )
    rp.add_argument("--model", required=True, help="a .keras model file")
    rp.add_argument("--data", required=True, help="a split folder (e.g. ROOT/test), or ROOT")
    rp.add_argument("--out", default="report.html", help="the HTML file (default: report.html)")
    rp.add_argument("--method", choices=methods, default="gradcam", help="CAM method")
    rp.add_argument("--gallery", type=_positive_int, default=6, help="cases per gallery")
    rp.add_argument(
        "--mc-samples",
        type=_non_negative_int,
        default=30,
        help="MC-dropout samples (0: no uncertainty)",
    )
    rp.add_argument(
        "--max-images",
        type=_positive_int,
        default=None,
        help="use at most this many images (evenly spread)",
    )
    rp.add_argument(
        "--threshold", type=float, default=None, help="override the stored decision threshold"
    )
    rp.add_argument("--quiet", action="store_true", help="no progress bars")
    rp.set_defaults(run=_report)

    check = commands.add_parser(
        "selfcheck", help="build the default StackedEnsemble, save it and reload it"
    )
    check.add_argument("--out", default="runs/selfcheck", help="output folder")
    check.add_argument("--size", type=_positive_int, default=224, help="input side in pixels")
    check.set_defaults(run=_selfcheck, quiet=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `keras-cxr` console script.

    Args:
        argv: Arguments without the program name; `None` reads `sys.argv`.

    Returns:
        The process exit code: 0 on success, 1 on an error (one `error: ...` line on
        stderr), 2 for invalid arguments, 130 when interrupted.

    Example:
        >>> keras_cxr.cli.main(["demo", "--out", "runs/demo"])
        0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        if debug:
            raise
        print("error: interrupted", file=sys.stderr)
        return _EXIT_INTERRUPTED
    except Exception as error:
        if debug:
            raise
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return _EXIT_ERROR


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    if isinstance(error, (FileNotFoundError, NotADirectoryError)) and not text:
        text = "file not found"
    known = (ValueError, OSError, RuntimeError, ImportError)
    if not isinstance(error, known):
        return f"{type(error).__name__}: {text} (run with --debug for the traceback)"
    return text or type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
