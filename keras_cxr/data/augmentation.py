"""Training-time augmentation for chest X-rays, made of Keras preprocessing layers."""

from __future__ import annotations

from typing import Any

import keras

from keras_cxr._validation import invalid_value

#: Named settings of `make_augmentation` (`TrainConfig.augmentation`): `"geometric"` is
#: the defaults (small rotations, zooms and shifts, mild contrast); `"intensity"` adds
#: the exposure differences between sites that over-call normals of an unseen cohort:
#: brightness ±12 % of the range, contrast ×[0.7, 1.3] and a Gaussian blur up to sigma 1.
AUGMENTATIONS: dict[str, dict[str, Any]] = {
    "geometric": {},
    "intensity": {"contrast": 0.3, "brightness": 0.12, "blur": 1.0},
}


def make_augmentation(
    rotation: float = 0.05,
    zoom: float = 0.1,
    translation: float = 0.05,
    contrast: float = 0.1,
    horizontal_flip: bool = False,
    seed: int | None = None,
    brightness: float = 0.0,
    blur: float = 0.0,
) -> keras.Sequential:
    """Builds a small, anatomy-preserving augmentation pipeline for chest X-rays.

    The pipeline holds `RandomRotation`, `RandomZoom`, `RandomTranslation`,
    `RandomContrast`, `RandomBrightness` and `RandomGaussianBlur` layers (a layer whose
    strength is 0 is left out; brightness and blur are off by default, see
    `AUGMENTATIONS` for a preset that turns them on). Pixels moved in from
    outside the image are black, like the collimated border of a radiograph. Images are
    expected in [0, 255], the range `keras_cxr.data.load_chest_xray` yields, and stay in it.

    Horizontal flips are off by default: flipping a frontal chest X-ray puts the heart on the
    wrong side (dextrocardia), an image the model will never meet in practice and a cue an
    explanation method may then highlight. The layers only act when called with
    `training=True`, so the pipeline can sit inside a model.

    Args:
        rotation: Largest rotation as a fraction of a full turn (0.05 is ±18°). Defaults
            to 0.05.
        zoom: Largest zoom in or out as a fraction of the size. Defaults to 0.1.
        translation: Largest shift as a fraction of height and width. Defaults to 0.05.
        contrast: Largest contrast change factor. Defaults to 0.1.
        horizontal_flip: Add `RandomFlip("horizontal")`. Defaults to False.
        seed: Seed of the layers (each gets its own seed derived from it), or None.
        brightness: Largest brightness shift as a fraction of the [0, 255] range (0.12
            adds up to ±31). Defaults to 0.
        blur: Largest standard deviation, in pixels, of a Gaussian blur (5 × 5 kernel);
            each image gets a random one from none to this. Defaults to 0.

    Returns:
        A `keras.Sequential` named "cxr_augmentation" that maps images of shape
        `(batch, H, W, C)` to images of the same shape.

    Raises:
        ValueError: a strength is negative.

    Example:
        >>> augment = keras_cxr.data.make_augmentation(seed=0)
        >>> data = keras_cxr.data.load_chest_xray("chest_xray", augment=augment)
    """
    for name, value in (
        ("rotation", rotation),
        ("zoom", zoom),
        ("translation", translation),
        ("contrast", contrast),
        ("brightness", brightness),
        ("blur", blur),
    ):
        if not value >= 0:
            raise invalid_value(name, "a non-negative float", value)

    def layer_seed(offset: int) -> int | None:
        return None if seed is None else seed + offset

    layers: list[keras.layers.Layer] = []
    if horizontal_flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=layer_seed(0)))
    if rotation:
        layers.append(
            keras.layers.RandomRotation(
                rotation, fill_mode="constant", fill_value=0.0, seed=layer_seed(1)
            )
        )
    if zoom:
        layers.append(
            keras.layers.RandomZoom(zoom, fill_mode="constant", fill_value=0.0, seed=layer_seed(2))
        )
    if translation:
        layers.append(
            keras.layers.RandomTranslation(
                translation, translation, fill_mode="constant", fill_value=0.0, seed=layer_seed(3)
            )
        )
    if contrast:
        layers.append(
            keras.layers.RandomContrast(contrast, value_range=(0, 255), seed=layer_seed(4))
        )
    if brightness:
        layers.append(
            keras.layers.RandomBrightness(brightness, value_range=(0, 255), seed=layer_seed(5))
        )
    if blur:
        layers.append(
            keras.layers.RandomGaussianBlur(
                factor=(0.0, 1.0),
                kernel_size=5,
                sigma=blur,
                value_range=(0, 255),
                seed=layer_seed(6),
            )
        )
    return keras.Sequential(layers, name="cxr_augmentation")


def named_augmentation(name: str = "geometric", seed: int | None = None) -> keras.Sequential:
    """The `make_augmentation` pipeline of a preset of `AUGMENTATIONS`.

    Args:
        name: `"geometric"` or `"intensity"`. Defaults to `"geometric"`.
        seed: Seed of the layers, or None. Defaults to None.

    Returns:
        The `keras.Sequential` of `make_augmentation(**AUGMENTATIONS[name], seed=seed)`.

    Raises:
        ValueError: For an unknown `name`.

    Example:
        >>> augment = keras_cxr.data.named_augmentation("intensity", seed=0)
        >>> [layer.__class__.__name__ for layer in augment.layers][-2:]
        ['RandomBrightness', 'RandomGaussianBlur']
    """
    if name not in AUGMENTATIONS:
        raise invalid_value("name", f"one of {sorted(AUGMENTATIONS)}", name)
    return make_augmentation(**AUGMENTATIONS[name], seed=seed)
