"""Explaining archives: whole folders of radiographs, streamed, sharded and resumable.

Example:
    >>> summary = keras_cxr.explain_folder("runs/demo/model.keras", "chest_xray", "explained")
    >>> print(summary)
    >>> table = keras_cxr.scale.read_results("explained")
"""

from keras_cxr.scale.explain_folder import explain_folder
from keras_cxr.scale.heatmap_shards import read_heatmaps
from keras_cxr.scale.results_table import read_results, read_skipped
from keras_cxr.scale.run_manifest import OutputExistsError, RunMismatchError, read_manifest
from keras_cxr.scale.shard_writer import SAVE_OPTIONS
from keras_cxr.scale.summary import ExplainFolderSummary

__all__ = [
    "SAVE_OPTIONS",
    "ExplainFolderSummary",
    "OutputExistsError",
    "RunMismatchError",
    "explain_folder",
    "read_heatmaps",
    "read_manifest",
    "read_results",
    "read_skipped",
]
