"""An `explain_folder` process killed without warning (SIGKILL) resumes to the same table."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import keras_cxr
from keras_cxr.data.synthetic import write_chest_xray
from keras_cxr.scale import read_heatmaps, read_results

from ._reference import STORED_TOLERANCE

#: The child explains two images per batch and sleeps after each, so the kill lands mid-run.
_CHILD = textwrap.dedent(
    """
    import sys, time
    import keras_cxr
    from keras_cxr.explain import BatchExplainer

    class Slow(BatchExplainer):
        def __call__(self, batch):
            out = super().__call__(batch)
            time.sleep(0.1)
            return out

    model, archive, out = sys.argv[1:]
    keras_cxr.explain_folder(Slow(model), archive, out, batch_size=2, shard_size=4,
                             table_format="csv", progress=False)
    """
)


@pytest.mark.slow
def test_a_killed_process_leaves_whole_shards_and_resumes(model_file, explainer, tmp_path):
    archive = write_chest_xray(tmp_path / "archive", n_train=60, n_test=0, image_size=32)
    out = tmp_path / "out"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(model_file), str(archive), str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    third = out / "results" / "part-00002.csv"
    deadline = time.monotonic() + 300
    try:
        while not third.exists():
            assert process.poll() is None, process.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no third shard within 5 minutes"
            time.sleep(0.02)
        time.sleep(0.25)  # into the next shard, then kill without warning
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    done = len(read_results(out)["path"])
    assert 12 <= done < 60 and done % 4 == 0  # whole shards only

    options = {"batch_size": 4, "shard_size": 4, "table_format": "csv", "progress": False}
    summary = keras_cxr.explain_folder(explainer, archive, out, resume=True, **options)
    assert (summary.resumed, summary.explained) == (done, 60 - done)
    keras_cxr.explain_folder(explainer, archive, tmp_path / "whole", **options)
    table, whole = read_results(out), read_results(tmp_path / "whole")
    assert list(table["path"]) == list(whole["path"])
    np.testing.assert_allclose(table["probability"], whole["probability"], rtol=1e-6)
    maps, whole_maps = read_heatmaps(out), read_heatmaps(tmp_path / "whole")
    assert list(maps["path"]) == list(whole_maps["path"])
    np.testing.assert_allclose(maps["heatmap"], whole_maps["heatmap"], atol=STORED_TOLERANCE)
