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
