"""Train, evaluate and explain a pneumonia classifier with `keras_cxr.training`.

The steps below are what `keras-cxr train`, `evaluate`, `explain` and `report` do, written
out so you can change any of them.

Without `--data`, the script writes synthetic phantoms (`keras_cxr.data.synthetic`) to a
temporary folder, so it runs anywhere, offline, in a few minutes on a CPU. With the real
data set of Kermany et al. (Cell 2018), point `--data` at the folder that holds `train/`
(and `test/` if you have it):

    python examples/train_pneumonia.py                          # phantoms, offline recipe
    python examples/train_pneumonia.py --data chest_xray --test-fraction 0.1
    python examples/train_pneumonia.py --data chest_xray --recipe seed   # ImageNet, online
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras_cxr
from keras_cxr.data import load_image_folder
from keras_cxr.data.synthetic import write_chest_xray
from keras_cxr.training import (
    TrainConfig,
    evaluate_model,
    explain_files,
    read_history,
    train,
    write_report,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="Kermany folder (default: phantoms in a temp folder)")
    parser.add_argument("--out", default="runs/example", help="output folder")
    parser.add_argument("--recipe", default="offline", choices=("offline", "seed", "demo"))
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--phantoms", type=int, default=400, help="training phantoms")
    parser.add_argument("--test-fraction", type=float, default=0.0)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()

    # 1. Data: a folder laid out as ROOT/{train,test}/{NORMAL,PNEUMONIA}/*.jpeg.
    #    Phantoms stand in for it: half of them carry pneumonia-like consolidations.
    temporary = None
    data = args.data
    size = args.image_size
    if data is None:
        temporary = tempfile.TemporaryDirectory(prefix="keras_cxr_phantoms_")
        size = size or 64
        data = write_chest_xray(
            Path(temporary.name) / "chest_xray",
            n_train=args.phantoms,
            n_test=max(args.phantoms // 4, 8),
            image_size=size,
        )
        print(f"Wrote {args.phantoms} training phantoms to {data}")

    # 2. Settings: start from a named recipe and override what you need. "offline" trains
    #    two compact CNNs end to end (no download); "seed" is the notebook's frozen
    #    ImageNet MobileNetV2 + DenseNet169 with a head trained on cached features.
    overrides = {
        "data": data,
        "out": args.out,
        "overwrite": True,
        "progress": not args.quiet,
        "test_fraction": args.test_fraction,
    }
    if size is not None:
        overrides["image_size"] = size
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    config = TrainConfig.recipe(args.recipe, **overrides)

    # 3. Train. Validation is carved out of train/ by patient; the best epoch's weights are
    #    kept, and the decision threshold is chosen on validation and saved in model.keras.
    result = train(config)
    print(f"validation AUC {result.val_metrics['roc_auc']:.3f}, threshold {result.threshold:.3f}")

    # 4. Evaluate on held-out images with that threshold (never tuned on the test set).
    model = keras_cxr.load_model(result.model_path)
    if result.splits.test is not None:
        test = result.splits.test
    else:
        test = load_image_folder(Path(data) / "test", config.image_size, progress=False)
    evaluation = evaluate_model(model, test.images, test.labels, result.threshold, "validation")
    evaluation.save(Path(args.out) / "evaluation")
    m = evaluation.metrics
    print(
        f"test: accuracy {m['accuracy']:.3f}, sensitivity {m['sensitivity']:.3f}, "
        f"specificity {m['specificity']:.3f}, AUC {m['roc_auc']:.3f}, ECE {m['ece']:.3f}"
    )

    # 5. Explain a few test images: one figure per image, one overlay per backbone branch.
    explained = explain_files(
        model,
        test.paths[:2] + test.paths[-2:],
        Path(args.out) / "gradcam",
        threshold=result.threshold,
    )
    print("Grad-CAM figures:", ", ".join(e.figure.name for e in explained))

    # 6. One self-contained HTML page with everything, uncertainty included.
    report = write_report(
        model,
        test,
        Path(args.out) / "report.html",
        result.threshold,
        "validation",
        history=read_history(Path(args.out) / "history.csv"),
        mc_samples=10,
        gallery_size=3,
    )
    print(f"Report: {report.path}")
    if temporary is not None:
        temporary.cleanup()


if __name__ == "__main__":
    main()
