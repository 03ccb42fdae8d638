"""Models the explainers cannot explain right are refused by every method, with one message.

Several inputs (image and age) crashed the CAMs inside Keras; channels-first models gave
maps of shape (batch, channels, width). Both are refused when the explainer is built.
"""

import keras
import pytest

from keras_cxr.explain import METHODS, get_method

SHAPE = (8, 8, 3)


def two_input_model():
    image, age = keras.Input(SHAPE, name="image"), keras.Input((1,), name="age")
    features = keras.layers.GlobalAveragePooling2D()(
        keras.layers.Conv2D(4, 3, activation="relu")(image)
    )
    joined = keras.layers.Concatenate()([features, age])
    return keras.Model([image, age], keras.layers.Dense(1, activation="sigmoid")(joined))


def channels_first_model():
    inputs = keras.Input((3, 8, 8))
    x = keras.layers.Conv2D(4, 3, data_format="channels_first", name="conv_cf")(inputs)
    x = keras.layers.GlobalAveragePooling2D(data_format="channels_first")(x)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))


@pytest.fixture(scope="module")
def models():
    return {"two inputs": two_input_model(), "channels first": channels_first_model()}


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "two inputs",
            r"argument `model`. Expected a model whose only input is the image.*"
            r"Build a model of the image alone.*with 2 inputs \['image', 'age'\]",
        ),
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
