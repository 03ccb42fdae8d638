"""Models the explainers cannot explain right are refused by every method, with one message.

Channels-first models gave maps of shape (batch, channels, width); they are refused when
the explainer is built. (Several-input models are explained: tests/explain/test_other_inputs.py.)
"""

import keras
import pytest

from keras_cxr.explain import METHODS, get_method

SHAPE = (8, 8, 3)


def channels_first_model():
    inputs = keras.Input((3, 8, 8))
    x = keras.layers.Conv2D(4, 3, data_format="channels_first", name="conv_cf")(inputs)
    x = keras.layers.GlobalAveragePooling2D(data_format="channels_first")(x)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))


@pytest.fixture(scope="module")
def models():
    return {"channels first": channels_first_model()}


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "channels first",
            r"argument `model`. Expected a channels_last model .*set_image_data_format"
            r".*whose layer `conv_cf` has data_format='channels_first'",
        ),
    ],
)
def test_refused_by_every_method(models, method, name, message):
    with pytest.raises(ValueError, match=message):
        get_method(method)(models[name])


def test_a_channels_first_layer_inside_a_nested_model_is_found():
    inner = keras.Sequential(
        [keras.Input((3, 8, 8)), keras.layers.Conv2D(4, 3, data_format="channels_first")],
        name="inner",
    )
    inputs = keras.Input((3, 8, 8))
    x = keras.layers.Flatten()(inner(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    with pytest.raises(ValueError, match="channels_last model"):
        get_method("gradcam")(model)
