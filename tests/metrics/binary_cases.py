"""Labels and scores shared by the binary classification tests, and a brute-force AUC."""

import itertools

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

# 3 positives, 5 negatives. At 0.5: TP = 2 (.9, .6), FN = 1 (.3), FP = 1 (.5), TN = 4.
Y_TRUE = [1, 1, 1, 0, 0, 0, 0, 0]
Y_SCORE = [0.9, 0.6, 0.3, 0.5, 0.4, 0.2, 0.1, 0.05]


def labelled_scores(min_size=2, max_size=30, both_classes=True):
    """(labels, integer-valued scores) with many ties."""

    @st.composite
    def draw_pairs(draw):
        size = draw(st.integers(min_size, max_size))
        labels = draw(st.lists(st.integers(0, 1), min_size=size, max_size=size))
        scores = draw(st.lists(st.integers(0, 6), min_size=size, max_size=size))
        if both_classes:
            assume(0 < sum(labels) < size)
        return np.array(labels), np.array(scores, dtype=float)

    return draw_pairs()


def brute_force_auc(labels, scores):
    positives = scores[labels == 1]
    negatives = scores[labels == 0]
    wins = sum(
        1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(positives, negatives)
    )
    return wins / (len(positives) * len(negatives))
