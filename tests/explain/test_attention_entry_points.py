"""The attention methods through every entry point that takes a method name.

`keras_cxr.explain.METHODS` names them, so `BatchExplainer` (the server and archive path),
`GradCAMCallback` and `keras-cxr explain` build them; each is checked against the
explainer called directly (itself checked against NumPy in test_attention.py), and each
refuses a model without attention with the explainer's own message.
"""

import cv2
import keras
import numpy as np
import pytest

import keras_cxr
from keras_cxr.callbacks import GradCAMCallback
from keras_cxr.cli import main
from keras_cxr.explain import AttentionGradient, AttentionRollout, BatchExplainer, get_method

from .models import SIZE, toy_vit

IMAGES = np.random.default_rng(11).uniform(0, 1, (3, SIZE, SIZE, 3)).astype("float32")
NO_ATTENTION = r"has no `keras.layers.MultiHeadAttention` layer.*Use a CAM"


@pytest.fixture(scope="module")
def vit():
    return toy_vit()


@pytest.fixture(scope="module")
def cnn():
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3, name="conv")(inputs))
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x), name="cnn")


@pytest.mark.parametrize(
    ("name", "cls"),
    [("attention-rollout", AttentionRollout), ("attention_gradient", AttentionGradient)],
)
def test_the_methods_are_named(name, cls):
    assert get_method(name) is cls
    assert keras_cxr.explain.METHODS[cls.method_name] is cls
    assert not keras_cxr.explain.is_cam(cls)


def test_batch_explainer_explains_the_decided_class(vit):
    for cls in (AttentionRollout, AttentionGradient):
        out = BatchExplainer(vit, cls.method_name, warm_up=False)({"image": IMAGES})
        direct = cls(vit).explain(IMAGES)
        np.testing.assert_array_equal(out["decision"], direct.class_index)
        np.testing.assert_allclose(out["heatmap"], direct.heatmaps, atol=1e-6)
        assert sorted(out) == ["decision", "heatmap", "probability", "score"]

    # A threshold above every probability decides class 0: the gradient map is class 0's,
    # while rollout, which uses no gradients, is the same for every class.
    high = {"threshold": 0.99, "warm_up": False}
    gradient = BatchExplainer(vit, "attention-gradient", **high)({"image": IMAGES})
    assert gradient["decision"].tolist() == [0, 0, 0]
    zero, one = (AttentionGradient(vit).explain(IMAGES, c).heatmaps for c in (0, 1))
    assert np.abs(zero - one).max() > 1e-3
    np.testing.assert_allclose(gradient["heatmap"], zero, atol=1e-6)
    rollout = BatchExplainer(vit, "attention-rollout", **high)({"image": IMAGES})
    np.testing.assert_allclose(rollout["heatmap"], AttentionRollout(vit)(IMAGES).heatmaps)


@pytest.mark.parametrize("method", ["attention-rollout", "attention-gradient"])
def test_batch_explainer_refuses_a_model_without_attention(cnn, method):
    with pytest.raises(ValueError, match=NO_ATTENTION):
        BatchExplainer(cnn, method)


def test_the_callback_explains_the_model_as_it_trains(tmp_path):
    model = toy_vit(extra=2, blocks=1)
    model.compile(keras.optimizers.SGD(0.5), "binary_crossentropy")
    labels = np.array([0, 1, 1])
    callback = GradCAMCallback(IMAGES, labels=labels, log_dir=tmp_path, method="attention-gradient")
    before = AttentionGradient(model).explain(IMAGES, labels).heatmaps
    model.fit(IMAGES, labels[:, None], epochs=2, verbose=0, callbacks=[callback])

    assert isinstance(callback.explainer, AttentionGradient)
    assert callback.logged_epochs == [0, 1]
    assert (tmp_path / "epoch_002.png").is_file()
    after = AttentionGradient(model).explain(IMAGES, labels)
    assert np.abs(after.heatmaps - before).max() > 1e-3  # the weights moved the maps
    np.testing.assert_allclose(callback.last_explanation.heatmaps, after.heatmaps, atol=1e-5)
    assert callback.last_explanation.class_index.tolist() == labels.tolist()


def test_the_callback_refuses_a_model_without_attention(cnn, tmp_path):
    callback = GradCAMCallback(IMAGES, log_dir=tmp_path, method="attention-rollout")
    cnn.compile("sgd", "binary_crossentropy")
    with pytest.raises(ValueError, match=NO_ATTENTION):
        cnn.fit(IMAGES, np.ones((3, 1)), epochs=1, verbose=0, callbacks=[callback])


def _png_files(folder):
    """Gray 32-px PNGs (all channels equal, so RGB or BGR reads alike; the smallest the
    command reads) and their pixels."""
    folder.mkdir()
    pixels = np.random.default_rng(5).integers(0, 256, (3, 32, 32), np.uint8)
    paths = [folder / f"{index}.png" for index in range(len(pixels))]
    for path, image in zip(paths, pixels):
        cv2.imwrite(str(path), image)
    return paths, np.repeat(pixels[..., None], 3, axis=-1)


def test_the_command_explains_a_vit_file_and_refuses_a_cnn(vit, cnn, tmp_path, capsys):
    paths, pixels = _png_files(tmp_path / "images")
    vit.save(tmp_path / "vit.keras")
    out = tmp_path / "explained"
    arguments = ["--out", str(out), "--method", "attention-gradient", "--heatmap-size", "16"]
    assert main(["explain", "--model", str(tmp_path / "vit.keras"), str(tmp_path / "images"),
                 *arguments, "--quiet"]) == 0  # fmt: skip
    assert capsys.readouterr().out.startswith("attention-gradient; threshold 0.500")
    assert keras_cxr.scale.read_manifest(out)["method"] == "attention-gradient"
    maps = keras_cxr.scale.read_heatmaps(out)
    assert maps["path"].tolist() == [str(path) for path in paths]
    expected = BatchExplainer(vit, "attention-gradient", warm_up=False)({"image": pixels})
    np.testing.assert_allclose(maps["heatmap"], expected["heatmap"], atol=1 / 255)

    cnn.save(tmp_path / "cnn.keras")
    arguments = ["--out", str(tmp_path / "refused"), "--method", "attention-rollout"]
    assert main(["explain", "--model", str(tmp_path / "cnn.keras"), str(paths[0]),
                 *arguments, "--quiet"]) == 1  # fmt: skip
    error = capsys.readouterr().err
    assert "error:" in error and "has no `keras.layers.MultiHeadAttention` layer" in error
