"""`LeanFunctional`: a Functional model that lets go of each intermediate tensor early.

Keras runs a Functional model node by node and keeps every computed tensor until the call
returns. A nested backbone frees its own when it returns; a flattened graph
(`keras_cxr.explain.graph`) holds all of them at once, so eagerly (PyTorch) the feature
part of a two-backbone ensemble needed 1.36 times the memory of the model itself. Under
`tf.function` and `jax.jit` the compiler frees them either way, so one code path serves
every backend.
"""

from __future__ import annotations

from collections import Counter

from keras_cxr._keras_internals import StepwiseFunctional


class LeanFunctional(StepwiseFunctional):
    """A Functional model whose call drops each tensor after its last consumer has run.

    Built like `keras.Model(inputs, outputs)`; it computes exactly what that model
    computes (the same nodes in the same order, with `training` passed the same way), and
    only the bookkeeping of computed tensors differs.

    Args:
        inputs, outputs, name: As for `keras.Model(inputs, outputs, name=name)`.

    Returns:
        The model.

    Raises:
        ValueError: As `keras.Model` does, for outputs not connected to the inputs;
            RuntimeError where the installed Keras lacks an internal that
            `keras_cxr._keras_internals` relies on.

    Example:
        >>> features = LeanFunctional(graph.inputs[0], target_tensors, name="cam_features")
        >>> maps = features(images, training=False)
    """

    def run_steps(self, inputs: list, call_step) -> list:
        """Runs the graph's steps in Keras's order, freeing each tensor once it is used up.

        Args:
            inputs: The call's input tensors, flattened.
            call_step: Runs one step (`keras_cxr._keras_internals.StepwiseFunctional`).

        Returns:
            The output tensors, flattened.

        Raises:
            Exception: Whatever a layer raises.

        Example:
            >>> outputs = lean.run_steps([images], call_step)
        """
        computed = {id(x): y for x, y in zip(self.inputs, inputs)}
        remaining = Counter(id(t) for step in self.steps for t in step.inputs)
        kept = {id(t) for t in self.outputs}
        for step in self.steps:
            if any(id(t) not in computed for t in step.inputs):
                continue  # not computable from these inputs (Keras skips it too)
            outputs = call_step(step, *step.arguments(computed))
            computed.update((id(x), y) for x, y in zip(step.outputs, outputs))
            for tensor in step.inputs:
                remaining[id(tensor)] -= 1
                if remaining[id(tensor)] == 0 and id(tensor) not in kept:
                    computed.pop(id(tensor), None)
        return [computed[id(x)] for x in self.outputs]


__all__ = ["LeanFunctional"]
