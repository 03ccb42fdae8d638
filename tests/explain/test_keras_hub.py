"""keras-hub vision transformers under a dense head: every CAM, the pixel methods and the
attention methods explain them, with the token grid read from the image size."""

import keras
import numpy as np
import pytest

import keras_cxr
from keras_cxr.explain import AttentionGradient, AttentionRollout, IntegratedGradients, LayerCAM
from keras_cxr.explain.graph import flatten_model
from keras_cxr.explain.tokens import TokenLayout, token_layout

keras_hub = pytest.importorskip("keras_hub", reason="keras-hub is in the `test` extra")

#: Run under every Keras backend (tests/test_backends.py).
pytestmark = pytest.mark.backends

SIZE, PATCH = 28, 7  # a 4×4 grid of 7-px patches
IMAGES = np.random.default_rng(11).uniform(0, 1, (2, SIZE, SIZE, 3)).astype("float32")
METHODS = [keras_cxr.GradCAM, LayerCAM, IntegratedGradients, AttentionRollout, AttentionGradient]


def vit():
    return keras_hub.models.ViTBackbone(
        image_shape=(SIZE, SIZE, 3), patch_size=PATCH, num_layers=2, num_heads=2,
        hidden_dim=16, mlp_dim=32,
    )  # fmt: skip


def dinov2():
    return keras_hub.models.DINOV2Backbone(
        patch_size=PATCH, num_layers=2, hidden_dim=16, num_heads=2, intermediate_dim=32,
        num_register_tokens=2, image_shape=(SIZE, SIZE, 3),
        position_embedding_shape=(SIZE, SIZE, 3),
    )  # fmt: skip


def with_head(backbone):
    """The class token through a 3-way softmax, random weights of a fixed seed."""
    inputs = keras.Input((SIZE, SIZE, 3))
    tokens = backbone(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(tokens[:, 0]))
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in model.weights])
    return model


#: (backbone builder, its embedding layer, leading class/register tokens)
BACKBONES = {
    "vit": (vit, "vit_patching_and_embedding", 1),
    "dinov2": (dinov2, "embeddings", 3),
}


@pytest.fixture(scope="module", params=sorted(BACKBONES))
def hub_model(request):
    build, embedding, extra = BACKBONES[request.param]
    return with_head(build()), embedding, extra


def test_the_token_grid_is_read_from_the_image_size(hub_model):
    model, embedding, extra = hub_model
    graph = flatten_model(model)
    node = next(n for n in graph.nodes if n.path.endswith(embedding))
    assert token_layout(graph, node.outputs[0]) == TokenLayout(extra, 4, 4)
    # The blocks are hidden inside one encoder layer: the CAMs explain the tokens entering it.
    assert keras_cxr.GradCAM(model).target_layers[0].endswith(embedding)


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.__name__)
def test_every_method_explains_the_predicted_class(hub_model, method):
    model, _, _ = hub_model
    explanation = method(model).explain(IMAGES)
    predicted = np.asarray(keras.ops.convert_to_numpy(model(IMAGES))).argmax(-1)
    assert explanation.heatmaps.shape == (2, SIZE, SIZE)
    assert np.isfinite(explanation.heatmaps).all()
    if method is not LayerCAM:  # on the random DINOv2, Σ ReLU(g)·A < 0 at every patch
        assert explanation.heatmaps.std() > 1e-3, "a flat map explains nothing"
    np.testing.assert_array_equal(explanation.class_index, predicted)


def test_the_attention_layers_are_named_by_their_path(hub_model):
    model, _, _ = hub_model
    layers = AttentionRollout(model).explain(IMAGES).target_layers
    assert len(layers) == 2 and len(set(layers)) == 2  # every block's layer is called "mha"


# ----------------------------------------------------------------- Swin: windows, merging


SWIN_SIZE = 32  # 4-px patches: an 8×8 grid, merged to 4×4 after the first stage


@pytest.fixture(scope="module")
def swin():
    """A tiny random Swin under the mean of its tokens and a 3-way softmax."""
    backbone = keras_hub.models.SwinTransformerBackbone(
        image_shape=(SWIN_SIZE, SWIN_SIZE, 3), embed_dim=8, depths=[2, 2], num_heads=[2, 2],
        window_size=4, patch_size=4, drop_path=0.0,
    )  # fmt: skip
    inputs = keras.Input((SWIN_SIZE, SWIN_SIZE, 3))
    pooled = keras.layers.GlobalAveragePooling1D()(backbone(inputs))
    head = keras.layers.Dense(3, activation="softmax", name="head")
    model = keras.Model(inputs, head(pooled))
    rng = np.random.default_rng(0)
    head.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in head.weights])
    return model, backbone


@pytest.mark.parametrize(
    ("method", "channel_weights"),
    # The logit is mean_t(A_t) · w_k + b: each token's gradient is w_k / 16, so Grad-CAM
    # weighs the channels by w_k and LayerCAM by ReLU(w_k).
    [(keras_cxr.GradCAM, lambda w: w), (LayerCAM, lambda w: np.maximum(w, 0))],
    ids=["GradCAM", "LayerCAM"],
)
def test_the_cams_explain_swins_last_tokens_on_their_merged_grid(swin, method, channel_weights):
    model, backbone = swin
    images = np.random.default_rng(3).uniform(0, 1, (2, SWIN_SIZE, SWIN_SIZE, 3))
    images = images.astype("float32")
    explanation = method(model).explain(images)
    assert explanation.target_layers == ["swin_transformer_backbone/norm"]

    tokens = keras.ops.convert_to_numpy(backbone(images))  # (2, 16, channels), after `norm`
    predicted = keras.ops.convert_to_numpy(model(images)).argmax(-1)
    kernel = model.get_layer("head").get_weights()[0]
    raw = np.stack(
        [np.maximum(t @ channel_weights(kernel[:, k]), 0) for t, k in zip(tokens, predicted)]
    ).reshape(2, 4, 4)
    expected = keras.ops.convert_to_numpy(
        keras_cxr.explain.normalize(keras_cxr.explain.upsample(raw, (SWIN_SIZE, SWIN_SIZE)))
    )
    assert expected.std() > 1e-3, "the reference map is flat"
    np.testing.assert_array_equal(explanation.class_index, predicted)
    np.testing.assert_allclose(explanation.heatmaps, expected, atol=1e-4)


@pytest.mark.parametrize("method", [AttentionRollout, AttentionGradient])
def test_swins_window_attention_is_refused_saying_why(swin, method):
    message = (
        r"attention layers \(`WindowAttention`\) are of another kind.*Windowed attention "
        r"\(Swin's shifted windows\).*no one token-to-token attention matrix.*Use a CAM"
    )
    with pytest.raises(ValueError, match=message):
        method(swin[0])


def test_a_token_model_whose_head_reads_a_class_token_needs_a_layer():
    # No 4-D map, no MultiHeadAttention, and a class token: its last tokens get gradient
    # through the class token only, so no token tensor is taken automatically.
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Reshape((16, PATCH * PATCH * 3))(
        keras.ops.transpose(
            keras.ops.reshape(inputs, (-1, 4, PATCH, 4, PATCH, 3)), (0, 1, 3, 2, 4, 5)
        )
    )
    x = keras.layers.Dense(8)(x)
    x = keras.ops.concatenate([keras.ops.zeros_like(x[:, :1]), x], axis=1)
    x = keras.layers.Dense(8, name="mixer")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x[:, 0]))
    with pytest.raises(ValueError, match=r"Found no spatial \(4-D\) feature map nor patch"):
        keras_cxr.GradCAM(model)
    assert keras_cxr.GradCAM(model, layer="mixer").explain(IMAGES).heatmaps.shape == (2, 28, 28)
