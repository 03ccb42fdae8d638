"""Toy images, heatmaps and predict functions shared by the faithfulness tests."""

import numpy as np

# A 4 x 4 image whose score is the mean intensity of its top-left 2 x 2 region.
REGION = (slice(0, 2), slice(0, 2))


def region_score(batch):
    return batch[:, REGION[0], REGION[1], 0].mean(axis=(1, 2))


# Decreasing in row-major order, so pixels are removed row by row: (0,0), (0,1), (0,2) ...
ROW_MAJOR = np.arange(16, dtype=float)[::-1].reshape(1, 4, 4)
ONES = np.ones((1, 4, 4, 1), dtype=np.float32)


class RecordingPredict:
    """predict_fn that records every batch it is called with."""

    def __init__(self, fn=region_score):
        self.fn = fn
        self.batches = []

    def __call__(self, batch):
        self.batches.append(batch.copy())
        return self.fn(batch)
