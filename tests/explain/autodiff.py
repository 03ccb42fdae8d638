"""Reference gradients for the tests, by each framework's own autodiff, written apart from
`keras_cxr.backend` so that the explainer is checked against an independent computation.

`run(watch, x)` recomposes a model by hand and returns `(feature maps, logits)`; it calls
`feature = watch(feature)` on each map it wants the gradient of. The whole computation is
compiled where the framework compiles (`tf.function`, `jax.jit`): randomly initialised deep
backbones with calibrated BatchNorm are chaotic, so eager and compiled float rounding
(fused kernels) would otherwise diverge far more than any explainer error.
"""

from __future__ import annotations

import keras
import numpy as np


def maps_and_gradients(run, images: np.ndarray, score):
    """`(maps, gradients)` as numpy lists: the maps of `run` and d(Σ score(logits))/d(map)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tensorflow(run, images, score)
    if backend == "jax":
        return _jax(run, images, score)
    if backend == "torch":
        return _torch(run, images, score)
    raise NotImplementedError(backend)


def _numpy(values):
    return [keras.ops.convert_to_numpy(value) for value in values]


def _tensorflow(run, images, score):
    import tensorflow as tf

    @tf.function
    def compute(x):
        with tf.GradientTape(persistent=True) as tape:

            def watch(feature):
                tape.watch(feature)
                return feature

            maps, logits = run(watch, x)
            total = tf.reduce_sum(score(logits))
        return maps, [tape.gradient(total, feature) for feature in maps]

    maps, gradients = compute(tf.constant(images))
    return _numpy(maps), _numpy(gradients)


def _jax(run, images, score):
    import jax
    import jax.numpy as jnp

    shapes = [m.shape for m in jax.eval_shape(lambda x: run(lambda f: f, x)[0], images)]

    @jax.jit
    def compute(x, shifts):
        def total(shifts):
            index = iter(range(len(shifts)))
            maps, logits = run(lambda feature: feature + shifts[next(index)], x)
            return jnp.sum(score(logits)), maps

        return jax.grad(total, has_aux=True)(shifts)

    gradients, maps = compute(jnp.asarray(images), [jnp.zeros(s, "float32") for s in shapes])
    return _numpy(maps), _numpy(gradients)


def _torch(run, images, score):
    import torch

    maps, shifts = [], []

    def watch(feature):
        # A zero added, as under JAX, rather than a detached leaf: a map that feeds a later
        # watched map (attention layer after attention layer) keeps its path through it,
        # so the gradient is the total derivative on every framework.
        shift = torch.zeros_like(feature, requires_grad=True)
        shifts.append(shift)
        maps.append(feature)
        return feature + shift

    _, logits = run(watch, torch.as_tensor(images))
    gradients = torch.autograd.grad(torch.sum(score(logits)), shifts)
    return _numpy([m.detach() for m in maps]), _numpy(gradients)
