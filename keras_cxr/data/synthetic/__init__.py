"""Synthetic chest radiographs ("phantoms") with ground-truth masks, in memory or on disk.

Example:
    >>> phantoms = keras_cxr.data.synthetic.make_phantoms(256, image_size=128, shortcut=True)
    >>> root = keras_cxr.data.synthetic.write_chest_xray("/tmp/phantom_cxr", n_train=200)
    >>> several = keras_cxr.data.synthetic.make_multilabel_phantoms(64, image_size=96)
"""

from keras_cxr.data.synthetic._findings import FINDINGS as MULTILABEL_FINDINGS
from keras_cxr.data.synthetic.chestxray14_writer import write_chestxray14
from keras_cxr.data.synthetic.multilabel import MultiLabelPhantoms, make_multilabel_phantoms
from keras_cxr.data.synthetic.phantoms import (
    MARKER_RATE_NEGATIVE,
    MARKER_RATE_POSITIVE,
    Phantoms,
    make_phantoms,
)
from keras_cxr.data.synthetic.writer import write_chest_xray

__all__ = [
    "MARKER_RATE_NEGATIVE",
    "MARKER_RATE_POSITIVE",
    "MULTILABEL_FINDINGS",
    "MultiLabelPhantoms",
    "Phantoms",
    "make_multilabel_phantoms",
    "make_phantoms",
    "write_chest_xray",
    "write_chestxray14",
]
