"""A hand-written training step for each Keras backend, as the Keras guides write them.

"Writing a training loop from scratch" looks different on each backend (a `GradientTape`,
`jax.value_and_grad` over `stateless_call`, `loss.backward()`); the callback tests drive
`GradCAMCallback` from each, through `keras.callbacks.CallbackList`.
"""

from __future__ import annotations

import keras


def train_step(model, optimizer, loss_fn, images, labels) -> float:
    """One gradient step on the whole batch; returns the loss before the step."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tensorflow_step(model, optimizer, loss_fn, images, labels)
    if backend == "jax":
        return _jax_step(model, optimizer, loss_fn, images, labels)
    return _torch_step(model, optimizer, loss_fn, images, labels)


def _tensorflow_step(model, optimizer, loss_fn, images, labels) -> float:
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = loss_fn(labels, model(images, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return float(loss)


def _jax_step(model, optimizer, loss_fn, images, labels) -> float:
    import jax

    def loss_of(trainable, non_trainable):
        outputs, non_trainable = model.stateless_call(
            trainable, non_trainable, images, training=True
        )
        return loss_fn(labels, outputs), non_trainable

    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    (loss, non_trainable), grads = jax.value_and_grad(loss_of, has_aux=True)(
        trainable, non_trainable
    )
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    for variable, value in zip(model.non_trainable_variables, non_trainable):
        variable.assign(value)
    return float(loss)


def _torch_step(model, optimizer, loss_fn, images, labels) -> float:
    import torch

    model.zero_grad()
    loss = loss_fn(labels, model(images, training=True))
    loss.backward()
    variables = model.trainable_variables
    with torch.no_grad():
        optimizer.apply([v.value.grad for v in variables], variables)
    return float(loss)
