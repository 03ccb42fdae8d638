"""`federate` on two tiny phantom sites: the run folder, resume after a kill, the model file."""

from __future__ import annotations

import json
import shutil

import keras
import numpy as np
import pytest

from keras_cxr.cli import main
from keras_cxr.data.synthetic import write_chest_xray
from keras_cxr.federated import FederatedConfig, federate, load_sites
from keras_cxr.federated.round_table import read_rows
from keras_cxr.models import read_metadata
from keras_cxr.training import RunExistsError

# also run under JAX and PyTorch; ~15 s of training on TensorFlow (it traces each site's fit)
pytestmark = [pytest.mark.backends, pytest.mark.slow]

SIZE = 32


def _config(root, out, **changes):
    settings = dict(
        data=root,
        sites="iid:2",
        rounds=2,
        out=out,
        recipe="demo",
        image_size=SIZE,
        batch_size=16,
        gradcam_images=0,
        progress=False,
    )
    return FederatedConfig(**{**settings, **changes})


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_model):
    """An uninterrupted 2-round run, and one killed after round 1 and resumed."""
    base = tmp_path_factory.mktemp("federated")
    root = write_chest_xray(base / "data", n_train=72, n_test=16, image_size=SIZE, seed=0)
    sites, held_out = load_sites(root, "iid:2", SIZE)
    whole = federate(_config(root, base / "whole"), sites, held_out, model_builder=tiny_model)
    # A kill right after round 1 was committed: round 2's weights are not there yet and
    # its state still says 1 (its rows may be, and must be dropped on resume).
    killed = base / "killed"
    shutil.copytree(base / "whole", killed)
    (killed / "rounds" / "global_002.npz").unlink()
    (killed / "model.keras").unlink()
    state = json.loads((killed / "federation_state.json").read_text())
    state.update(completed_rounds=1, weights="rounds/global_001.npz")
    (killed / "federation_state.json").write_text(json.dumps(state))
    resumed = federate(
        _config(root, killed, resume=True), sites, held_out, model_builder=tiny_model
    )
    return root, whole, resumed


def test_each_round_is_graded_per_site_pooled_and_held_out(runs):
    _, whole, _ = runs
    rows = read_rows(whole.out / "rounds.csv")
    assert [(r["round"], r["site"], r["split"]) for r in rows] == [
        (k, site, split)
        for k in (1, 2)
        for site, split in (
            ("site1", "val"),
            ("site2", "val"),
            ("all sites", "val"),
            ("held-out", "test"),
        )
    ]
    held_out = [r for r in rows if r["site"] == "held-out"]
    assert all(r["n"] == 16 for r in held_out)
    pooled = [r for r in rows if r["site"] == "all sites"]
    sites = [r for r in rows if r["site"].startswith("site")]
    assert all(p["n"] == sum(s["n"] for s in sites if s["round"] == p["round"]) for p in pooled)
    assert all(0 <= r["roc_auc"] <= 1 and r["loss"] > 0 for r in rows)
    assert all(r["local_seconds"] > 0 for r in sites)
    assert (whole.out / "rounds.png").stat().st_size > 1000
    state = json.loads((whole.out / "federation_state.json").read_text())
    assert state["completed_rounds"] == 2
    assert sorted(p.name for p in (whole.out / "rounds").iterdir()) == [
        "global_000.npz",
        "global_001.npz",
        "global_002.npz",
    ]
    # each site kept its round's local history, not its checkpoints
    assert (whole.out / "sites" / "site1" / "round_002" / "history.csv").is_file()
    assert not (whole.out / "sites" / "site1" / "round_002" / "checkpoints").exists()


def test_the_saved_model_carries_the_pooled_calibration(runs):
    _, whole, _ = runs
    metadata = read_metadata(whole.model_path)
    assert metadata["threshold"] == pytest.approx(whole.threshold)
    assert metadata["temperature"] == pytest.approx(whole.temperature)
    assert metadata["federated"]["aggregation"] == "fedavg"
    assert metadata["federated"]["site_names"] == ["site1", "site2"]
    assert metadata["federated"]["rounds"] == 2
    with np.load(whole.out / "rounds" / "global_002.npz") as last:
        saved = keras.saving.load_model(whole.model_path)
        for stored, weight in zip(
            (last[f"arr_{i}"] for i in range(len(last.files))), saved.get_weights()
        ):
            np.testing.assert_array_equal(stored, weight)
    summary = json.loads((whole.out / "federated_summary.json").read_text())
    assert summary["test_metrics"]["n"] == 16


def test_a_killed_run_resumes_at_the_next_round_and_ends_where_an_uninterrupted_one_does(runs):
    _, whole, resumed = runs
    assert whole.resumed_at is None and resumed.resumed_at == 2
    rows = read_rows(resumed.out / "rounds.csv")
    assert [r["round"] for r in rows] == [1] * 4 + [2] * 4  # round 2's old rows replaced
    for stored, again in zip(read_rows(whole.out / "rounds.csv"), rows):
        assert stored["roc_auc"] == pytest.approx(again["roc_auc"], abs=1e-6)
        assert stored["loss"] == pytest.approx(again["loss"], abs=1e-5)
    for a, b in zip(whole.model.get_weights(), resumed.model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_resuming_with_other_settings_or_rerunning_is_refused(runs, tiny_model, tmp_path):
    root, whole, _ = runs
    with pytest.raises(RunExistsError, match="other settings; it can only be resumed"):
        federate(_config(root, whole.out, sites="iid:3", resume=True), model_builder=tiny_model)
    with pytest.raises(RunExistsError, match="already holds a training run"):
        federate(_config(root, whole.out), model_builder=tiny_model)
    train_run = tmp_path / "train_run"
    train_run.mkdir()
    (train_run / "history.csv").write_text("stage,epoch\n")  # what `train` leaves
    with pytest.raises(RunExistsError, match="not a federated one; --resume continues"):
        federate(_config(root, train_run, resume=True), model_builder=tiny_model)


def test_keras_cxr_evaluate_reads_the_federated_model(runs, tmp_path):
    root, whole, _ = runs
    out = tmp_path / "evaluate"
    argv = ["evaluate", "--model", str(whole.model_path), "--data", str(root / "test")]
    assert main([*argv, "--out", str(out), "--bootstrap", "0", "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["threshold"] == pytest.approx(whole.threshold)
    assert metrics["roc_auc"] == pytest.approx(whole.test_metrics["roc_auc"], abs=1e-6)
