"""`INTERNAL_VALIDATION`: what a figure measured on a patient split does not say.

`keras-cxr train` and `evaluate` print it and the HTML report shows it, beside the
cohort-held-out figures of the shift-aware validation, so that nobody reads a
validation specificity as what the model will do on the next hospital's images.
"""

from __future__ import annotations

#: The caveat printed under validation figures (one paragraph, no line breaks).
INTERNAL_VALIDATION = (
    "Internal validation is optimistic: these images come from the same hospital and period "
    "as the training images, so the figures do not measure performance at another site or "
    "in a later period. On the Kermany test split, a later collection from the same "
    "hospital, earlier keras_cxr recipes lost 8-10 points of accuracy and 24-26 points of "
    "specificity against their own validation; the cohort rows above (held-out naming "
    "cohorts, shifted copies) are closer but still optimistic. Evaluate on images from the "
    "site and period where the model will be used before relying on it."
)

__all__ = ["INTERNAL_VALIDATION"]
