"""The one place that touches Keras internals: `keras.src` and `_`-prefixed Keras attributes.

Walking a model's graph node by node (to inline nested backbones, to split a model into
feature and head parts, to free tensors early) needs parts of Keras that are not public
API. Every such use lives here, behind small named functions, so that a Keras release that
renames one breaks one module, and says so: the first call of any of them runs
`check_keras_internals` once, which raises a `RuntimeError` naming the Keras version and
the internal that changed instead of an `AttributeError` deep inside an explainer.

What is relied on, and who relies on it:

- `keras.src.models.functional.Functional`, its `_run_through_graph(inputs, operation_fn,
  call_fn)`, `_outputs_struct` and (where present) `_get_operation_for_node`:
  `StepwiseFunctional`, under `explain.lean_functional.LeanFunctional`.
- `Function._nodes_by_depth` and a node's `operation`, `is_input`, `input_tensors`,
  `outputs` and `arguments.fill_in`: `graph_steps`, for `explain.graph` and
  `StepwiseFunctional`.
- `Sequential._functional`: `functional_graph`, for `explain.graph`, `explain.base` and
  `explain.base_attribution`.
- `Layer._call_has_training_arg`: `call_has_training_arg`, for `explain.graph`.
- `Layer._flatten_layers(include_self, recursive)`: `sublayers`, for `explain.hooks`,
  `explain._inputs` and `backend.tensorflow`.
- `Layer._inbound_nodes` and a node's `parent_nodes`: `inbound_operations`, for
  `models.head`.

- `MultiHeadAttention._compute_attention` (its `return_attention_scores` argument) and
  `MultiHeadAttention._softmax`: `watched_attention`, for `explain.attention_capture`.

`graph.py` holds the graph functions and the class, `attention.py` the attention ones,
`check.py` the probes behind
`check_keras_internals`. `tests/test_keras_internals.py` runs every probe against the
installed Keras and checks that no module outside this package reads a Keras internal;
`pyproject.toml` caps `keras` at the newest version tested (`TESTED_KERAS`).
"""

from __future__ import annotations

from keras_cxr._keras_internals.attention import attention_layers, watched_attention
from keras_cxr._keras_internals.check import (
    TESTED_KERAS,
    check_keras_internals,
    keras_internals_problems,
)
from keras_cxr._keras_internals.graph import (
    GraphStep,
    StepwiseFunctional,
    call_has_training_arg,
    functional_graph,
    graph_steps,
    inbound_operations,
    sublayers,
)

__all__ = [
    "TESTED_KERAS",
    "GraphStep",
    "StepwiseFunctional",
    "attention_layers",
    "call_has_training_arg",
    "check_keras_internals",
    "functional_graph",
    "graph_steps",
    "inbound_operations",
    "keras_internals_problems",
    "sublayers",
    "watched_attention",
]
