"""The run viewer's API over a real explained run: rows, sort, filters, cases, flags, growth."""

from __future__ import annotations

import csv
import hashlib
import io
import shutil

import cv2
import numpy as np
import pytest

from keras_cxr.data.images import read_image
from keras_cxr.scale import read_heatmaps, read_manifest, read_results
from keras_cxr.scale.results_table import write_part
from keras_cxr.serve import create_run_app
from keras_cxr.serve.responses import display_image
from keras_cxr.viz.overlay import colorize

from .conftest import THRESHOLD

testclient = pytest.importorskip("fastapi.testclient")
#: The clients' base URL: the viewer answers localhost names only, unless told otherwise.
LOCAL = "http://localhost"


@pytest.fixture(scope="module")
def client(explained_run, tmp_path_factory):
    """A client of the viewer over the shared run, its flags kept outside the run."""
    flags = tmp_path_factory.mktemp("flags") / "triage.json"
    return testclient.TestClient(create_run_app(explained_run, flags_file=flags), base_url=LOCAL)


@pytest.fixture(scope="module")
def table(explained_run):
    """The results read by the library's own reader, the reference for the API."""
    return read_results(explained_run)


def _expected_outcome(label: str, decision: int) -> str:
    """The outcome by hand: PNEUMONIA is the positive class, "" when there is no label."""
    if label not in ("NORMAL", "PNEUMONIA"):
        return ""
    positive = label == "PNEUMONIA"
    return {(True, 1): "TP", (False, 1): "FP", (True, 0): "FN", (False, 0): "TN"}[
        (positive, int(decision))
    ]


def _all_rows(client, **params):
    return client.get("/v1/run/rows", params={"limit": 1000, **params}).json()


def test_rows_hold_the_results_and_the_outcome_of_each(client, table):
    page = _all_rows(client)
    assert page["total"] == page["matched"] == len(table["path"]) == 19
    for row in page["rows"]:
        i = row["index"]
        assert row["path"] == table["path"][i] and row["label"] == table["label"][i]
        assert row["probability"] == pytest.approx(float(table["probability"][i]))
        assert row["decision"] == int(table["decision"][i])
        assert row["outcome"] == _expected_outcome(table["label"][i], table["decision"][i])
        share = float(table["b3/lung_share"][i])  # a branch that found nothing: NaN, as null
        assert row["b3/lung_share"] == (None if np.isnan(share) else pytest.approx(share))
        assert row["flagged"] is False
    assert [row["name"] for row in page["rows"]].count("loose.png") == 1


@pytest.mark.parametrize("column", ["probability", "name", "fused/lung_share", "b5/lung_share"])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_sort_matches_pythons_sorted(client, table, column, order):
    rows = _all_rows(client, sort=column, order=order)["rows"]
    values = [row[column] for row in rows]
    present = [value for value in values if value is not None]
    assert present == sorted(present, reverse=order == "desc")
    assert values[len(present) :] == [None] * (len(values) - len(present))  # NaN last
    if column == "b5/lung_share":  # a branch whose map found nothing: NaN in the table
        assert len(present) == int(np.isfinite(table[column]).sum()) < len(values)


def test_filters_keep_the_rows_the_definitions_give(client, table):
    labels, decisions = table["label"], table["decision"]
    probability = table["probability"]
    outcomes = [_expected_outcome(label, d) for label, d in zip(labels, decisions)]
    expected = {
        "false_positive": {i for i, o in enumerate(outcomes) if o == "FP"},
        "false_negative": {i for i, o in enumerate(outcomes) if o == "FN"},
        "wrong": {i for i, o in enumerate(outcomes) if o in ("FP", "FN")},
        "unlabelled": {i for i, o in enumerate(outcomes) if o == ""},
        "low_confidence": {i for i, p in enumerate(probability) if abs(p - THRESHOLD) < 0.1},
        "off_lungs": {i for i, s in enumerate(table["fused/lung_share"]) if s < 0.5},
    }
    for name, indices in expected.items():
        got = {row["index"] for row in _all_rows(client, filter=name)["rows"]}
        assert got == indices, name
    assert len(expected["unlabelled"]) == 1


def test_search_and_paging(client, table):
    names = [str(path).rsplit("/", 1)[-1] for path in table["path"]]
    found = _all_rows(client, q="PERSON")["rows"]  # case-insensitive, over the path
    assert sorted(row["name"] for row in found) == sorted(n for n in names if "person" in n)
    first = client.get("/v1/run/rows", params={"sort": "name", "limit": 5}).json()
    second = client.get("/v1/run/rows", params={"sort": "name", "limit": 5, "offset": 5}).json()
    assert [r["name"] for r in first["rows"] + second["rows"]] == sorted(names)[:10]
    assert first["matched"] == 19 and second["offset"] == 5


def test_bad_queries_say_what_is_accepted(client):
    answer = client.get("/v1/run/rows", params={"sort": "colour"})
    assert answer.status_code == 400 and "Expected one of" in answer.json()["detail"]
    assert "probability" in answer.json()["detail"]
    answer = client.get("/v1/run/rows", params={"filter": "odd"})
    assert answer.status_code == 400 and "false_positive" in answer.json()["detail"]
    assert client.get("/v1/run/rows", params={"limit": 0}).status_code == 422
    answer = client.get("/v1/run/cases/19")
    assert answer.status_code == 404
    assert answer.json()["detail"] == "The run has 19 rows; there is no row 19."


def test_case_images_are_the_runs_maps_and_image(client, explained_run, table):
    index = 4
    case = client.get(f"/v1/run/cases/{index}").json()
    assert case["maps"] == ["heatmap", "heatmap/b3", "heatmap/b5"] and case["has_overlay"]
    maps = read_heatmaps(explained_run)
    row = int(np.flatnonzero(maps["path"] == table["path"][index])[0])
    for key in case["maps"]:
        answer = client.get(f"/v1/run/cases/{index}/heatmap.png", params={"key": key})
        served = cv2.cvtColor(cv2.imdecode(np.frombuffer(answer.content, np.uint8), 1),
                              cv2.COLOR_BGR2RGB)  # fmt: skip
        np.testing.assert_array_equal(served, colorize(maps[key][row][None])[0])
    image = client.get(f"/v1/run/cases/{index}/image.png")
    shown = cv2.cvtColor(cv2.imdecode(np.frombuffer(image.content, np.uint8), 1), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(shown, display_image(read_image(table["path"][index]), 320))
    overlay = client.get(f"/v1/run/cases/{index}/overlay.png")
    assert overlay.content == (explained_run / table["overlay"][index]).read_bytes()
    missing = client.get(f"/v1/run/cases/{index}/heatmap.png", params={"key": "heatmap/b9"})
    assert missing.status_code == 404 and "'heatmap/b3'" in missing.json()["detail"]


def test_flags_and_notes_are_saved_apart_and_exported(explained_run, table, tmp_path):
    before = _digests(explained_run)
    run = tmp_path / "run"
    shutil.copytree(explained_run, run)
    client = testclient.TestClient(create_run_app(run), base_url=LOCAL)
    answer = client.put("/v1/run/cases/3/flag", json={"flagged": True, "note": "apex, left"})
    assert answer.json()["flagged"] is True and answer.json()["path"] == table["path"][3]
    client.put("/v1/run/cases/5/flag", json={"note": "look again"})
    client.put("/v1/run/cases/3/flag", json={"flagged": True})  # keeps the note
    flagged = _all_rows(client, filter="flagged")["rows"]
    assert [row["index"] for row in flagged] == [3]
    assert client.get("/v1/run/cases/3").json()["note"] == "apex, left"
    exported = list(csv.DictReader(io.StringIO(client.get("/v1/run/flags.csv").text)))
    by_path = {row["path"]: row for row in exported}
    assert set(by_path) == {table["path"][3], table["path"][5]}
    assert by_path[table["path"][3]]["note"] == "apex, left"
    assert by_path[table["path"][3]]["flagged"] == "true"
    assert by_path[table["path"][5]]["flagged"] == "false"
    assert float(by_path[table["path"][5]]["probability"]) == pytest.approx(
        float(table["probability"][5])
    )
    # A second app reads the same flags back; the run's own files are untouched.
    reopened = testclient.TestClient(create_run_app(run), base_url=LOCAL)
    assert reopened.get("/v1/run/cases/3").json()["flagged"] is True
    assert _digests(run) == {**before, **_digests(run, only=("triage.json", "triage.json.prev"))}
    bad = client.put("/v1/run/cases/3/flag", json={"note": 5})
    assert bad.status_code == 400 and bad.json()["detail"] == "`note` must be text; received 5."


def test_a_run_still_being_written_shows_new_parts(explained_run, tmp_path):
    run = tmp_path / "growing"
    (run / "results").mkdir(parents=True)
    shutil.copy(explained_run / "manifest.json", run / "manifest.json")
    client = testclient.TestClient(create_run_app(run), base_url=LOCAL)
    assert client.get("/v1/run/rows").json()["total"] == 0
    parts = sorted((explained_run / "results").iterdir())
    shutil.copy(parts[0], run / "results" / parts[0].name)
    assert client.get("/v1/run/rows").json()["total"] == 8
    shutil.copy(parts[1], run / "results" / ("." + parts[1].name + ".tmp"))  # half-written
    assert client.get("/v1/run/rows").json()["total"] == 8
    shutil.copy(parts[1], run / "results" / parts[1].name)
    assert client.get("/v1/run").json()["rows"] == 16
    # A part of another run: refused by name, and the run reads again once it is gone.
    foreign = run / "results" / "part-00009.csv"
    write_part(foreign, {"path": ["x.png"], "probability": [0.5]}, "csv")
    answer = client.get("/v1/run/rows")
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith(f"{str(foreign)!r} does not hold the run's columns")
    foreign.unlink()
    assert client.get("/v1/run/rows").json()["total"] == 16


def test_summary_counts_by_hand(client, table):
    summary = client.get("/v1/run/summary", params={"bins": 4}).json()
    assert summary["edges"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert summary["threshold"] == pytest.approx(THRESHOLD)
    for label in ("NORMAL", "PNEUMONIA", ""):
        p = [float(v) for v, lab in zip(table["probability"], table["label"]) if lab == label]
        expected = [sum(lo <= v < hi or (hi == 1.0 and v == 1.0) for v in p)
                    for lo, hi in ((0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0))]  # fmt: skip
        assert summary["histograms"][label] == expected
    outcomes = [_expected_outcome(lab, d) for lab, d in zip(table["label"], table["decision"])]
    assert summary["confusion"] == {o: outcomes.count(o) for o in set(outcomes)}


def test_calibration_and_peaks_by_hand(client, table):
    summary = client.get("/v1/run/summary", params={"bins": 50, "peak_grid": 3}).json()
    labelled = [(float(p), lab == "PNEUMONIA") for p, lab in zip(table["probability"],
                table["label"]) if lab in ("NORMAL", "PNEUMONIA")]  # fmt: skip
    calibration = summary["calibration"]
    for k in range(50):
        inside = [(p, y) for p, y in labelled if k / 50 <= p < (k + 1) / 50]
        assert calibration["count"][k] == len(inside)
        if inside:
            mean = sum(p for p, _ in inside) / len(inside)
            assert calibration["mean_probability"][k] == pytest.approx(mean)
            assert calibration["positive_rate"][k] == sum(y for _, y in inside) / len(inside)
        else:
            assert calibration["positive_rate"][k] is None
    assert sum(calibration["count"]) == 18  # the unlabelled PNG is left out
    grid = [[0] * 3 for _ in range(3)]
    for row, col in zip(table["fused/peak_row"], table["fused/peak_col"]):
        if not (np.isnan(row) or np.isnan(col)):
            grid[min(int(row * 3), 2)][min(int(col * 3), 2)] += 1
    assert summary["peaks"] == grid


def test_a_foreign_host_name_is_refused_unless_allowed(explained_run, tmp_path):
    """DNS rebinding: a page whose name now points at 127.0.0.1 sends its own in `Host`."""
    flags = tmp_path / "triage.json"
    foreign = testclient.TestClient(create_run_app(explained_run, flags_file=flags),
                                    base_url="http://evil.example")  # fmt: skip
    answer = foreign.put("/v1/run/cases/0/flag", json={"flagged": True})
    assert answer.status_code == 400 and not flags.exists()
    assert foreign.get("/v1/run/rows").status_code == 400
    allowed = create_run_app(explained_run, flags_file=flags, allowed_hosts=["Evil.Example"])
    assert (
        testclient.TestClient(allowed, base_url="http://evil.example").get("/v1/run").json()["rows"]
        == 19
    )


def test_a_folder_that_is_no_run_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"holds no manifest\.json: pass the output"):
        create_run_app(tmp_path)
    assert read_manifest(tmp_path) is None


def _digests(folder, only=None):
    return {
        str(path.relative_to(folder)): hashlib.sha1(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and (only is None or path.name in only)
    }


def test_serve_with_a_run_mounts_the_run_viewer_at_run(model_file, explained_run, tmp_path):
    """`keras-cxr serve --run`: the model's routes and the run viewer under `/run/`, whose
    page asks for its files and API by relative URLs."""
    from keras_cxr.serve import create_app

    run = tmp_path / "run"
    shutil.copytree(explained_run, run)
    client = testclient.TestClient(create_app(model_file, run_dir=run), base_url=LOCAL)
    assert client.get("/v1/model").json()["threshold"] == pytest.approx(THRESHOLD)
    redirected = client.get("/run", follow_redirects=False)
    assert redirected.status_code in (307, 308) and redirected.headers["location"].endswith("/run/")
    page = client.get("/run/").text
    assert 'src="static/run.js"' in page and 'href="v1/run/flags.csv"' in page
    assert client.get("/run/static/run.js").status_code == 200
    rows = client.get("/run/v1/run/rows", params={"sort": "probability", "limit": 1})
    assert rows.json()["total"] == 19 and rows.headers["cache-control"] == "no-store"
    client.put("/run/v1/run/cases/0/flag", json={"flagged": True})
    assert (run / "triage.json").is_file()
