"""`keras_cxr.explain.BatchExplainer`: dict batches in, GradCAM's numbers out."""

from __future__ import annotations

import cv2
import keras
import numpy as np
import pytest

import keras_cxr
from keras_cxr.data import read_image
from keras_cxr.explain import BatchExplainer
from keras_cxr.explain.batch_explainer import branch_names
from keras_cxr.models import save_model

from .models import tiny_cnn


@pytest.fixture(scope="module")
def explainer(two_branch_ensemble):
    return BatchExplainer(two_branch_ensemble)


def _reference(model, images, class_index=None):
    return keras_cxr.GradCAM(model).explain(images.astype(np.float32), class_index)


def test_outputs_are_gradcams_numbers(explainer, two_branch_ensemble, tiny_images):
    out = explainer({"image": tiny_images})
    reference = _reference(two_branch_ensemble, tiny_images)
    positive = two_branch_ensemble.predict(tiny_images.astype(np.float32), verbose=0)[:, 0]
    assert sorted(out) == [
        "decision",
        "heatmap",
        "heatmap/b3",
        "heatmap/b5",
        "probability",
        "score",
    ]
    np.testing.assert_allclose(out["probability"], positive, rtol=1e-5)
    np.testing.assert_array_equal(out["decision"], (positive >= 0.5).astype(np.int64))
    np.testing.assert_allclose(out["heatmap"], reference.heatmaps, atol=1e-6)
    for branch, path in zip(("b3", "b5"), reference.target_layers):
        np.testing.assert_allclose(
            out[f"heatmap/{branch}"], reference.layer_heatmaps[path], atol=1e-6
        )
    np.testing.assert_allclose(out["score"], reference.scores, rtol=1e-5, atol=1e-6)
    assert out["heatmap"].dtype == out["probability"].dtype == np.float32
    assert out["decision"].dtype == np.int64 and out["heatmap"].shape == (10, 32, 32)


def test_the_class_decided_at_the_threshold_is_explained(two_branch_ensemble, tiny_images):
    positive = two_branch_ensemble.predict(tiny_images.astype(np.float32), verbose=0)[:, 0]
    threshold = float(np.median(positive))  # half the images each way, unlike at 0.5
    decided = (positive >= threshold).astype(np.int64)
    assert 0 < decided.sum() < len(decided)
    out = BatchExplainer(two_branch_ensemble, threshold=threshold, warm_up=False)(
        {"image": tiny_images}
    )
    reference = _reference(two_branch_ensemble, tiny_images, decided)
    np.testing.assert_array_equal(out["decision"], decided)
    np.testing.assert_allclose(out["heatmap"], reference.heatmaps, atol=1e-6)
    np.testing.assert_allclose(
        out["heatmap/b5"], reference.layer_heatmaps[reference.target_layers[1]], atol=1e-6
    )
    np.testing.assert_allclose(out["score"], reference.scores, rtol=1e-5, atol=1e-6)


def test_other_keys_pass_through_unchanged(explainer, tiny_images):
    paths = np.array([f"scan{i}.png" for i in range(3)])
    labels = ["NORMAL", "PNEUMONIA", ""]
    out = explainer({"image": tiny_images[:3], "path": paths, "label": labels, "site": "A"})
    assert out["path"] is paths and out["label"] is labels and out["site"] == "A"
    assert "image" not in out


def test_gray_and_odd_sized_images_are_resized_like_files(
    explainer, two_branch_ensemble, tiny_images, tmp_path
):
    gray = [
        cv2.resize(tiny_images[0, ..., 0], (47, 40)),
        cv2.resize(tiny_images[1, ..., 1], (64, 64)),
        tiny_images[2, ..., 2],
    ]
    files = []
    for index, image in enumerate(gray):
        files.append(tmp_path / f"{index}.png")
        cv2.imwrite(str(files[-1]), image)
    as_read = np.stack([read_image(path, "rgb", (32, 32)) for path in files])
    reference = _reference(two_branch_ensemble, as_read)
    from_list = explainer({"image": gray})
    np.testing.assert_allclose(from_list["heatmap"], reference.heatmaps, atol=1e-6)
    same_size = explainer({"image": np.stack([g for g in gray if g.shape == (32, 32)])})
    np.testing.assert_allclose(same_size["heatmap"], reference.heatmaps[2:], atol=1e-6)


def test_threshold_and_class_names_come_from_the_model_file(two_branch_ensemble, tmp_path):
    path = save_model(
        two_branch_ensemble, tmp_path / "m.keras", {"threshold": 0.3, "class_names": ["A", "B"]}
    )
    stored = BatchExplainer(path, warm_up=False)
    assert (stored.threshold, stored.threshold_source) == (0.3, "model file")
    assert stored.class_names == ("A", "B") and stored.model_path == path
    overridden = BatchExplainer(path, "hirescam", threshold=0.7, warm_up=False)
    assert (overridden.threshold, overridden.threshold_source) == (0.7, "argument")
    assert overridden.method == "hirescam"
    plain = BatchExplainer(two_branch_ensemble, warm_up=False)
    assert (plain.threshold, plain.threshold_source) == (0.5, "default")
    assert plain.class_names == ("NORMAL", "PNEUMONIA")


def test_a_softmax_decides_by_arg_max():
    model = tiny_cnn(units=3)
    images = np.random.default_rng(1).uniform(0, 1, (6, 16, 16, 3)).astype(np.float32)
    predictions = model.predict(images, verbose=0)
    out = BatchExplainer(model, warm_up=False)({"image": images})
    np.testing.assert_array_equal(out["decision"], predictions.argmax(axis=1))
    np.testing.assert_allclose(out["probability"], predictions.max(axis=1), rtol=1e-5)
    np.testing.assert_allclose(out["heatmap"], _reference(model, images).heatmaps, atol=1e-6)
    assert list(out) == ["probability", "decision", "score", "heatmap", "heatmap/last_relu"]


def test_all_classes_gives_a_map_per_class_named_after_it(tmp_path):
    model = tiny_cnn(units=3)
    path = save_model(
        model, tmp_path / "m.keras", {"class_names": ["NORMAL", "BACTERIAL", "VIRAL"]}
    )
    images = np.random.default_rng(2).uniform(0, 1, (4, 16, 16, 3)).astype(np.float32)
    explainer = BatchExplainer(path, all_classes=True, warm_up=False)
    keys = ["heatmap@NORMAL", "heatmap@BACTERIAL", "heatmap@VIRAL"]
    assert explainer.heatmap_keys == ["heatmap", "heatmap/last_relu", *keys]
    out = explainer({"image": images})
    for index, key in enumerate(keys):
        expected = _reference(explainer.model, images, index).heatmaps
        np.testing.assert_allclose(out[key], expected, atol=1e-6)
    for row, decided in enumerate(out["decision"]):
        np.testing.assert_allclose(out[keys[decided]][row], out["heatmap"][row], atol=1e-6)
    # Without stored names, a 3-unit model's classes are numbered, not called PNEUMONIA.
    assert BatchExplainer(model, warm_up=False).class_names == ("0", "1", "2")


def test_branch_names_are_short_unless_they_clash():
    assert branch_names(["stacked_backbones/b3/relu", "stacked_backbones/b5/relu"]) == [
        "b3",
        "b5",
    ]
    assert branch_names(["top_relu"]) == ["top_relu"]
    assert branch_names(["a/x/relu", "b/x/relu"]) == ["a/x/relu", "b/x/relu"]


def _linear_output_model():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(4)(x), name="regressor")


def _free_size_model():
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x), name="any_size")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (_linear_output_model, r"Expected a classifier with one output, \(n, 1\) with a sigmoid"),
        (_free_size_model, r"Expected a model with one fixed-size image input"),
        (lambda: 42, r"Expected a \.keras file path or a keras\.Model\. Received: model='int'"),
    ],
    ids=["not-a-classifier", "no-fixed-size", "not-a-model"],
)
def test_models_it_cannot_serve_are_refused(build, message):
    with pytest.raises(ValueError, match=message):
        BatchExplainer(build(), warm_up=False)


def test_bad_options_are_refused(two_branch_ensemble, tmp_path):
    with pytest.raises(ValueError, match=r"Expected one of \['attention-gradient', 'attention-r"):
        BatchExplainer(two_branch_ensemble, "gradcam3000")
    with pytest.raises(ValueError, match=r"`threshold`. Expected a float in \[0, 1\]"):
        BatchExplainer(two_branch_ensemble, threshold=1.5)
    with pytest.raises(FileNotFoundError, match="No model file at"):
        BatchExplainer(tmp_path / "missing.keras")


def test_bad_batches_are_refused(explainer, tiny_images):
    with pytest.raises(ValueError, match=r'Expected a dict with an "image" key\. Received.*path'):
        explainer({"path": ["a.png"]})
    with pytest.raises(ValueError, match=r"no key named like an output; rename \['probability'\]"):
        explainer({"image": tiny_images[:2], "probability": [0.1, 0.2]})
    with pytest.raises(ValueError, match=r"one entry per image .*2 images.*3 entries in 'path'"):
        explainer({"image": tiny_images[:2], "path": ["a", "b", "c"]})
    with pytest.raises(ValueError, match=r"numeric pixels"):
        explainer({"image": np.array([["a"]], dtype=object)})


@pytest.mark.parametrize(
    ("method", "reference"),
    [
        ("saliency", lambda model: keras_cxr.explain.Saliency(model)),
        ("smoothgrad", lambda model: keras_cxr.explain.SmoothGrad(model)),
    ],
)
def test_pixel_methods_give_one_map_of_the_input(
    two_branch_ensemble, tiny_images, method, reference
):
    explainer = BatchExplainer(two_branch_ensemble, method)
    out = explainer({"image": tiny_images})
    assert explainer.target_layers == [] and explainer.heatmap_keys == ["heatmap"]
    expected = reference(two_branch_ensemble).explain(tiny_images.astype(np.float32))
    np.testing.assert_allclose(out["heatmap"], expected.heatmaps, atol=1e-5)
    np.testing.assert_allclose(out["score"], expected.scores, rtol=1e-5, atol=1e-6)


def test_a_layer_for_a_pixel_method_is_refused(two_branch_ensemble):
    with pytest.raises(ValueError, match="None for saliency, which explains the input pixels"):
        BatchExplainer(two_branch_ensemble, "saliency", "stacked_backbones/b3/b3_stage2_relu")
