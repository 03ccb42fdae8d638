"""Conformance matrix: the Keras model zoos × the explainers, under the active backend.

Each model is a backbone with random weights (`weights=None`) at the smallest input it
allows, under a three-way softmax head (global average pooling for 4-D features, the class
token for transformer tokens). Each cell explains two images with one method and says:

- `works`: finite maps of the input's size, for the class the head decides (`flat` when
  the map is constant, e.g. a LayerCAM whose every position is negative);
- `refused`: a `ValueError` raised by keras_cxr that says why (e.g. attention methods on
  a CNN);
- `failed`: anything else (an error from inside Keras, a wrong shape, NaN, the wrong
  class).

Run it once per backend; the docs' table (docs/model_zoo.md) is the union of such runs.
The default is one model per family; `--all` runs every `keras.applications` constructor
(slow on a CPU). `tests/benchmarks/test_model_zoo.py` runs a small slice in CI.

Usage (from the repository root, so that this checkout's keras_cxr is imported):
    KERAS_BACKEND=jax PYTHONPATH=. python benchmarks/model_zoo.py [--models ViT,MobileNetV2] [--all]
        [--methods GradCAM,AttentionRollout] [--markdown out.md]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

METHODS = ("GradCAM", "LayerCAM", "IntegratedGradients", "AttentionRollout", "AttentionGradient")

#: keras.applications constructors run by default (one per family) and their smallest input.
APPLICATIONS = {
    "MobileNetV2": 32,
    "MobileNetV3Small": 32,
    "ResNet50": 32,
    "DenseNet121": 32,
    "EfficientNetB0": 32,
    "EfficientNetV2B0": 32,
    "ConvNeXtTiny": 32,
    "VGG16": 32,
    "InceptionV3": 75,
    "Xception": 71,
    "NASNetMobile": 32,
}

#: Smallest input of the applications not in `APPLICATIONS` that need more than 32 px.
MIN_SIZE = {"InceptionResNetV2": 75, "NASNetLarge": 32}

#: keras-hub backbones with tiny random configurations (transformers: 28-px images, 7-px
#: patches; CNNs and Swin: 32 px).
HUB = (
    "ViT",
    "DeiT",
    "DINOv2",
    "Swin",
    "DenseNet-hub",
    "ResNet-hub",
    "EfficientNet-hub",
    "CSPNet-hub",
)
#: The keras-hub models whose head reads the class token (the others pool every token).
CLASS_TOKEN = ("ViT", "DeiT", "DINOv2")


#: The other keras-hub CNN backbones: constructor and a two-stage configuration at 32 px.
TINY_CNNS = {
    "ResNet-hub": ("ResNetBackbone", {
        "input_conv_filters": [64], "input_conv_kernel_sizes": [3],
        "stackwise_num_filters": [64, 16],  # 64 first and in the stem: its shortcut needs it
        "stackwise_num_blocks": [1, 1],
        "stackwise_num_strides": [1, 2], "block_type": "basic_block",
        "image_shape": (32, 32, 3),
    }),
    "EfficientNet-hub": ("EfficientNetBackbone", {
        "stackwise_width_coefficients": [1.0, 1.0], "stackwise_depth_coefficients": [1.0, 1.0],
        "stackwise_kernel_sizes": [3, 3], "stackwise_num_repeats": [1, 1],
        "stackwise_input_filters": [8, 16], "stackwise_output_filters": [16, 16],
        "stackwise_expansion_ratios": [1, 4], "stackwise_squeeze_and_excite_ratios": [0.0, 0.25],
        "stackwise_strides": [2, 2], "stackwise_block_types": ["fused", "unfused"],
        "input_shape": (32, 32, 3), "num_features": 32,
    }),
    "CSPNet-hub": ("CSPNetBackbone", {
        "stem_filters": 8, "stem_kernel_size": 3, "stem_strides": 2,
        "stackwise_depth": [1, 1], "stackwise_strides": [1, 2],
        "stackwise_num_filters": [16, 32], "block_type": "bottleneck_block",
        "stage_type": "csp", "bottle_ratio": [0.5], "block_ratio": [1.0],
        "expand_ratio": [2.0], "cross_linear": True,  # cspresnet50's ratios
        "image_shape": (32, 32, 3),
    }),
}  # fmt: skip


def application_names() -> list[str]:
    """Every model constructor in `keras.applications`."""
    import keras

    return sorted(name for name in dir(keras.applications) if name[0].isupper())


def build_application(name: str):
    import keras

    size = APPLICATIONS.get(name, MIN_SIZE.get(name, 32))
    backbone = getattr(keras.applications, name)(
        include_top=False, weights=None, input_shape=(size, size, 3)
    )
    return backbone, size


def build_hub(name: str):
    import keras_hub

    models, size = keras_hub.models, 28
    tokens = {"image_shape": (size, size, 3), "patch_size": 7, "num_layers": 2, "num_heads": 2}
    if name == "ViT":
        return models.ViTBackbone(**tokens, hidden_dim=16, mlp_dim=32), size
    if name == "DeiT":
        return models.DeiTBackbone(**tokens, hidden_dim=16, intermediate_dim=32), size
    if name == "DINOv2":
        shape = tokens["image_shape"]
        return models.DINOV2Backbone(
            **tokens, hidden_dim=16, intermediate_dim=32, position_embedding_shape=shape
        ), size
    if name == "Swin":
        return models.SwinTransformerBackbone(
            image_shape=(32, 32, 3), embed_dim=16, depths=[2, 2], num_heads=[2, 2],
            window_size=4, patch_size=4, drop_path=0.0,
        ), 32  # fmt: skip
    if name == "DenseNet-hub":
        return models.DenseNetBackbone([2, 2], image_shape=(32, 32, 3), growth_rate=8), 32
    if name in TINY_CNNS:
        return getattr(models, TINY_CNNS[name][0])(**TINY_CNNS[name][1]), 32
    raise ValueError(f"Unknown keras-hub model {name!r}; known: {HUB}")


def build(name: str):
    """`(model, size)`: the backbone under a three-way softmax head."""
    import keras
    import numpy as np

    backbone, size = build_hub(name) if name in HUB else build_application(name)
    inputs = keras.Input((size, size, 3))
    features = backbone(inputs)
    if len(features.shape) == 4:
        pooled = keras.layers.GlobalAveragePooling2D()(features)
    elif name in CLASS_TOKEN:
        pooled = features[:, 0]
    else:
        pooled = keras.layers.GlobalAveragePooling1D()(features)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(pooled))
    rng = np.random.default_rng(0)
    head = model.layers[-1]
    head.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in head.weights])
    return model, size


def explainer(method: str, model):
    import keras_cxr

    cls = getattr(keras_cxr.explain, method)
    return cls(model, steps=8) if method == "IntegratedGradients" else cls(model)


def cell(model, method: str, images) -> str:
    """One cell of the matrix: `works`, `refused: ...` or `failed: ...`."""
    import keras
    import numpy as np

    try:
        explanation = explainer(method, model).explain(images)
    except ValueError as error:
        if _raised_by_keras_cxr(error):
            return f"refused: {_first_sentence(error)}"
        return f"failed: ValueError inside {_raise_site(error)}: {_first_sentence(error)}"
    except Exception as error:  # a failure is what the matrix reports
        return f"failed: {type(error).__name__}: {_first_sentence(error)}"
    heatmaps = explanation.heatmaps
    predicted = np.asarray(keras.ops.convert_to_numpy(model(images, training=False))).argmax(-1)
    if heatmaps.shape != images.shape[:3]:
        return f"failed: maps of shape {heatmaps.shape} for images {images.shape[:3]}"
    if not np.isfinite(heatmaps).all():
        return "failed: non-finite maps"
    if not np.array_equal(explanation.class_index, predicted):
        return f"failed: explained {explanation.class_index}, the head decides {predicted}"
    return "works (flat)" if float(heatmaps.std()) == 0.0 else "works"


def _raise_site(error: Exception) -> str:
    """The file that raised `error` (the last frame of its traceback)."""
    frame = error.__traceback__
    while frame.tb_next is not None:
        frame = frame.tb_next
    return frame.tb_frame.f_code.co_filename


def _raised_by_keras_cxr(error: Exception) -> bool:
    """A refusal is an error keras_cxr raises on purpose; one from inside Keras is a crash."""
    return f"{os.sep}keras_cxr{os.sep}" in _raise_site(error)


def _first_sentence(error: Exception) -> str:
    text = " ".join(str(error).split())
    return text.split(". ")[0][:160]


def run(names: list[str], methods: list[str]) -> list[dict]:
    """One row per model: its cells and the seconds it took."""
    import keras
    import numpy as np

    rows = []
    for name in names:
        start = time.perf_counter()
        try:
            model, size = build(name)
        except Exception as error:  # a model that cannot be built is reported, not fatal
            rows.append({"model": name, "build": f"failed: {_first_sentence(error)}"})
            continue
        images = np.random.default_rng(1).uniform(0, 255, (2, size, size, 3)).astype("float32")
        row = {"model": name, "size": size, "backend": keras.backend.backend()}
        for method in methods:
            row[method] = cell(model, method, images)
        row["seconds"] = round(time.perf_counter() - start, 1)
        rows.append(row)
        print(row, flush=True)
        keras.backend.clear_session()
    return rows


def markdown(rows: list[dict], methods: list[str]) -> str:
    """The matrix as a Markdown table."""
    header = ["model", "input", "backend", *methods, "s"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in rows:
        if "build" in row:
            cells = [row["model"], "", "", row["build"], *[""] * (len(methods) - 1), ""]
        else:
            cells = [
                row["model"],
                str(row["size"]),
                row["backend"],
                *(row[m] for m in methods),
                str(row["seconds"]),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", help="comma-separated names (default: one per family)")
    parser.add_argument("--all", action="store_true", help="every keras.applications model")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--markdown", help="also write the table to this file")
    args = parser.parse_args()
    if args.models:
        names = args.models.split(",")
    else:
        names = [*(application_names() if args.all else APPLICATIONS), *HUB]
    methods = args.methods.split(",")
    table = markdown(run(names, methods), methods)
    print(table)
    if args.markdown:
        from keras_cxr.atomic import atomic_write_text

        atomic_write_text(args.markdown, table)


if __name__ == "__main__":
    main()
