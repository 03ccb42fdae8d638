"""Frozen-backbone feature caching: pooled features computed once, the head trained on them.

With frozen backbones, an epoch of `model.fit` on images spends nearly all its time
recomputing backbone features that never change. `extract_features` computes them once
(for the images as they are and for a fixed set of augmented views), `HeadModel` is the
head alone, mapping features to predictions, and `copy_head_weights` puts the trained
head back into the full image → prediction model.
"""

from __future__ import annotations

import keras
import numpy as np

from keras_cxr._validation import invalid_value


def extract_features(
    model: keras.Model,
    images: np.ndarray,
    augmented_views: int = 0,
    augmentation=None,
    batch_size: int = 32,
    seed: int = 0,
    progress: bool = False,
) -> np.ndarray:
    """Computes the pooled backbone features of images and of `augmented_views` augmented copies.

    View 0 is the images as they are; view `v >= 1` applies `augmentation` (by default
    `keras_cxr.data.make_augmentation(seed=seed + v)`) once, so each image has the same
    `augmented_views` fixed augmented versions for the whole training, and a head
    trained on them sees each image in one of `1 + augmented_views` versions per epoch.
    The same `seed` and `batch_size` give the same views.

    Args:
        model: A `keras_cxr.StackedEnsemble` (its `stacked_backbones` are used) or a
            feature model mapping images to `(batch, features)`.
        images: `(N, H, W, C)` raw pixels in [0, 255], uint8 or float.
        augmented_views: Number of augmented views `K` besides the original, >= 0.
            Defaults to 0.
        augmentation: A function `view -> callable` returning the augmentation of view
            `view` (a callable `(images, training=True) -> images`); None for
            `keras_cxr.data.make_augmentation(seed=seed + view)`.
        batch_size: Images per forward pass. Defaults to 32.
        seed: Seed of the default augmentation. Defaults to 0.
        progress: Show a progress bar. Defaults to False.

    Returns:
        float32 `(1 + augmented_views, N, features)`.

    Raises:
        ValueError: For a bad `augmented_views` or `batch_size`, or images that do not
            match the model's input shape.

    Example:
        >>> model = keras_cxr.StackedEnsemble(weights="imagenet")
        >>> features = keras_cxr.training.extract_features(model, x_train, augmented_views=4)
        >>> features.shape
        (5, 4177, 2944)
    """
    from tqdm.auto import tqdm

    from keras_cxr.data.augmentation import make_augmentation

    if isinstance(augmented_views, bool) or not isinstance(augmented_views, int):
        raise invalid_value("augmented_views", "an integer >= 0", augmented_views)
    if augmented_views < 0:
        raise invalid_value("augmented_views", "an integer >= 0", augmented_views)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise invalid_value("batch_size", "an integer >= 1", batch_size)
    extractor = feature_extractor(model)
    images = np.asarray(images)
    expected = tuple(extractor.input_shape[1:])
    if images.ndim != 4 or tuple(images.shape[1:]) != expected:
        raise invalid_value(
            "images", f"a batch of shape (N, {', '.join(map(str, expected))})", images.shape
        )
    size = int(extractor.output_shape[-1])
    features = np.empty((1 + augmented_views, len(images), size), dtype=np.float32)
    steps = (1 + augmented_views) * -(-len(images) // batch_size)
    bar = tqdm(total=steps, desc="caching features", disable=not progress, leave=False)
    for view in range(1 + augmented_views):
        augment = None
        if view:
            augment = (
                make_augmentation(seed=seed + view) if augmentation is None else augmentation(view)
            )
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size].astype(np.float32)
            if augment is not None:
                batch = keras.ops.convert_to_numpy(augment(batch, training=True))
            features[view, start : start + len(batch)] = keras.ops.convert_to_numpy(
                extractor.predict_on_batch(batch)
            )
            bar.update()
    bar.close()
    return features


def feature_extractor(model: keras.Model) -> keras.Model:
    """The part of `model` that maps images to pooled features.

    Args:
        model: A `keras_cxr.StackedEnsemble` (or any model with a `stacked_backbones`
            layer), or a model whose output already is `(batch, features)`.

    Returns:
        The `StackedBackbones` of an ensemble, else `model` itself.

    Raises:
        ValueError: If the model's output is not 2-D.

    Example:
        >>> keras_cxr.training.feature_extractor(ensemble).name
        'stacked_backbones'
    """
    stack = _stack_of(model)
    if stack is not None:
        return stack
    if len(model.output_shape) != 2:
        raise invalid_value(
            "model", "a StackedEnsemble or a model returning (batch, features)", model.name
        )
    return model


def head_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers after `stacked_backbones` in a `StackedEnsemble`, in call order.

    Args:
        model: A `keras_cxr.StackedEnsemble`, or a model of the same shape: a chain
            image → `stacked_backbones` → single-input layers → output.

    Returns:
        The head layers (BatchNorm, Dense, Dropout, `logits`, `predictions`).

    Raises:
        ValueError: If the model has no `stacked_backbones` layer or is not a chain.

    Example:
        >>> [layer.name for layer in keras_cxr.training.head_layers(ensemble)][:2]
        ['head_bn_1', 'head_dense_1']
    """
    stack = _stack_of(model)
    if stack is None:
        raise invalid_value("model", "a StackedEnsemble (a model with `stacked_backbones`)", model)
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if layers[0] is not stack:
        raise invalid_value("model", "a chain starting with `stacked_backbones`", model.name)
    head = layers[1:]
    for previous, layer in zip([stack, *head], head):
        inbound = layer._inbound_nodes[0].parent_nodes if layer._inbound_nodes else []
        if len(inbound) != 1 or inbound[0].operation is not previous:
            raise invalid_value("model", "a chain of single-input head layers", layer.name)
    return head


class HeadModel(keras.Model):
    """The head of a `keras_cxr.StackedEnsemble` on its own: pooled features → predictions.

    The head layers are rebuilt from their configs (same names, same order) with the
    ensemble's current weights, so training this model leaves the ensemble untouched
    until `copy_head_weights` copies the weights back. Built as a separate model, it
    never adds nodes to the ensemble's layers, which explainers walk.

    Args:
        model: The `keras_cxr.StackedEnsemble` whose head to copy.
        name: Model name. Defaults to `"<model name>_head"`.

    Returns:
        A Functional model mapping `(batch, features)` to `(batch, num_classes)`.

    Raises:
        ValueError: If `model` is not shaped like a `StackedEnsemble`.

    Example:
        >>> head = keras_cxr.training.HeadModel(ensemble)
        >>> head.compile("adam", "binary_crossentropy")
        >>> head.fit(features[0], y_train, epochs=20)
        >>> keras_cxr.training.copy_head_weights(head, ensemble)
    """

    def __init__(self, model: keras.Model, name: str | None = None) -> None:
        originals = head_layers(model)
        size = int(_stack_of(model).output_shape[-1])
        inputs = keras.Input(shape=(size,), name="features")
        x = inputs
        for original in originals:
            x = original.__class__.from_config(original.get_config())(x)
        super().__init__(inputs=inputs, outputs=x, name=name or f"{model.name}_head")
        copy_head_weights(model, self)


def copy_head_weights(source: keras.Model, target: keras.Model) -> None:
    """Copies the head weights (moving statistics included) between an ensemble and a head.

    Layers are matched by name, so it works both ways: `HeadModel` → ensemble after
    training the head, and ensemble → `HeadModel`.

    Args:
        source: A `keras_cxr.StackedEnsemble` or `HeadModel`.
        target: A `keras_cxr.StackedEnsemble` or `HeadModel`.

    Raises:
        ValueError: If a head layer of one is missing from the other.

    Example:
        >>> keras_cxr.training.copy_head_weights(head, ensemble)
    """
    names = [layer.name for layer in _head_of(source)]
    target_layers = {layer.name: layer for layer in _head_of(target)}
    missing = [name for name in names if name not in target_layers]
    if missing or len(names) != len(target_layers):
        raise invalid_value("target", f"a model with the head layers {names}", target.name)
    for layer in _head_of(source):
        if layer.weights:
            target_layers[layer.name].set_weights(layer.get_weights())


def _head_of(model: keras.Model) -> list[keras.layers.Layer]:
    if isinstance(model, HeadModel):
        return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    return head_layers(model)


def _stack_of(model: keras.Model):
    stack = getattr(model, "stacked_backbones", None)
    if stack is not None:
        return stack
    try:
        return model.get_layer("stacked_backbones")
    except ValueError:
        return None
