"""`keras-cxr view`: the options, the app it serves over a hand-made run, and its errors."""

from __future__ import annotations

import json

import pytest

from keras_cxr.cli import build_parser, main
from keras_cxr.scale.results_table import write_part
from keras_cxr.serve import server

from ._helpers import error_line

pytest.importorskip("uvicorn", reason='the serve extra is not installed: pip install ".[serve]"')
testclient = pytest.importorskip("fastapi.testclient")


@pytest.fixture
def run_dir(tmp_path):
    """A run of two rows written by hand: a manifest and one CSV results part."""
    run = tmp_path / "explained"
    (run / "results").mkdir(parents=True)
    manifest = {"kind": "keras_cxr.explain_folder", "class_names": ["NORMAL", "PNEUMONIA"],
                "threshold": 0.5, "model_name": "toy", "method": "gradcam"}  # fmt: skip
    (run / "manifest.json").write_text(json.dumps(manifest))
    columns = {"path": ["/x/NORMAL/a.png", "/x/PNEUMONIA/b.png"], "label": ["NORMAL", "PNEUMONIA"],
               "probability": [0.7, 0.2], "decision": [1, 0],
               "predicted": ["PNEUMONIA", "NORMAL"]}  # fmt: skip
    write_part(run / "results" / "part-00000.csv", columns, "csv")
    return run


def test_defaults_are_the_servers():
    args = build_parser().parse_args(["view", "explained"])
    defaults = ("explained", server.DEFAULT_HOST, server.DEFAULT_PORT)
    assert (args.run_dir, args.host, args.port) == defaults
    assert args.flags is None


def test_view_serves_the_run_with_its_flags_file(run_dir, tmp_path, monkeypatch, capsys):
    import uvicorn

    handed = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: handed.update(app=app, **options))
    flags = tmp_path / "flags.json"
    assert main(["view", str(run_dir), "--port", "8124", "--flags", str(flags)]) == 0
    assert capsys.readouterr().out.startswith(f"Reviewing {run_dir} on http://127.0.0.1:8124/")
    assert (handed["host"], handed["port"]) == ("127.0.0.1", 8124)
    foreign = testclient.TestClient(handed["app"], base_url="http://evil.example")
    assert foreign.get("/v1/run").status_code == 400  # the default names only
    client = testclient.TestClient(handed["app"], base_url="http://localhost")
    rows = client.get("/v1/run/rows", params={"sort": "probability"}).json()["rows"]
    assert [(row["name"], row["outcome"]) for row in rows] == [("b.png", "FN"), ("a.png", "FP")]
    client.put("/v1/run/cases/0/flag", json={"flagged": True})
    assert json.loads(flags.read_text())["flags"]["/x/NORMAL/a.png"]["flagged"] is True


def test_a_folder_that_is_no_run_is_one_error_line(tmp_path, capsys):
    assert main(["view", str(tmp_path)]) == 1
    assert error_line(capsys) == (
        f"error: {str(tmp_path)!r} holds no manifest.json: pass the output folder of "
        "`keras-cxr explain ... --out DIR` (or keras_cxr.explain_folder)."
    )


def test_serve_run_hands_the_run_to_the_model_server(monkeypatch, capsys, tmp_path):
    import keras_cxr.serve

    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.keras").write_bytes(b"")  # there: the command checks before it serves
    handed = {}
    monkeypatch.setattr(keras_cxr.serve, "serve", lambda model, **options: handed.update(options))
    assert main(["serve", "--model", "m.keras", "--run", "explained"]) == 0
    assert handed["run_dir"] == "explained"
    assert capsys.readouterr().out.splitlines()[1] == (
        "Reviewing explained on http://127.0.0.1:8000/run/"
    )
