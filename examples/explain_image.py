"""Explain one chest X-ray: read it, predict, and draw a heatmap per backbone branch.

    python examples/explain_image.py --model runs/demo/model.keras image.jpeg
    python examples/explain_image.py               # an untrained model on a phantom

Any JPEG, PNG or DICOM file works: `keras_cxr.data.read_image` reads it the way the
training data were read and resizes it to the model's input.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cv2
import numpy as np

import keras_cxr
from keras_cxr.data import read_image
from keras_cxr.explain import get_method
from keras_cxr.layers import build_compact_backbone
from keras_cxr.models import read_metadata
from keras_cxr.viz import overlay


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="*", help="image files (default: one phantom)")
    parser.add_argument("--model", help="a .keras model (default: an untrained demo model)")
    parser.add_argument("--method", default="gradcam", help="gradcam, gradcam++, hirescam, ...")
    parser.add_argument("--out", default="runs/explain_image")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # The model, and the decision threshold stored with it by `keras-cxr train`.
    if args.model:
        model = keras_cxr.load_model(args.model)
        threshold = read_metadata(args.model).get("threshold", 0.5)
    else:
        shape = (64, 64, 3)
        model = keras_cxr.StackedEnsemble(
            backbones=[build_compact_backbone(n, shape) for n in ("cnn_3x3", "cnn_7x7")],
            input_shape=shape,
            weights=None,
        )
        threshold = 0.5
    size = model.input_shape[1]

    paths = [Path(p) for p in args.images]
    if not paths:
        from keras_cxr.data.synthetic import make_phantoms

        phantom = make_phantoms(1, image_size=size, prevalence=1.0, seed=3).images[0]
        paths = [Path(tempfile.mkdtemp()) / "phantom.png"]
        cv2.imwrite(str(paths[0]), phantom)

    explainer = get_method(args.method)(model)  # finds each branch's last feature map
    print("target layers:", explainer.target_layers)
    for path in paths:
        image = read_image(path, "rgb", (size, size))[None].astype(np.float32)
        probability = float(model.predict(image, verbose=0)[0, 0])
        label = "PNEUMONIA" if probability >= threshold else "NORMAL"
        # Explain the predicted class (for a sigmoid output, 0 = evidence for NORMAL).
        explanation = explainer.explain(image, class_index=int(probability >= threshold))
        figure = explanation.plot(image, labels=[label])
        figure.savefig(out / f"{path.stem}_{args.method}.png", dpi=110)
        # Or blend one map yourself, e.g. to save the fused overlay at full size:
        fused = overlay(image, explanation.heatmaps)[0]
        cv2.imwrite(str(out / f"{path.stem}_fused.png"), cv2.cvtColor(fused, cv2.COLOR_RGB2BGR))
        print(
            f"{path.name}: {label} (p={probability:.3f}, threshold {threshold:.3f}) -> "
            f"{out / f'{path.stem}_{args.method}.png'}"
        )


if __name__ == "__main__":
    main()
