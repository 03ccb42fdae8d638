"""`TriageFlags`: saved atomically with the previous version kept, refused when foreign."""

from __future__ import annotations

import json

import numpy as np
import pytest

from keras_cxr.serve.triage_flags import MAX_NOTE_CHARS, TriageFlags


def test_changes_are_saved_and_read_back_with_the_previous_version_kept(tmp_path):
    path = tmp_path / "triage.json"
    flags = TriageFlags(path)
    assert flags.get("a.png") == {"flagged": False, "note": ""} and not path.exists()
    flags.set("a.png", flagged=True)
    flags.set("b.png", note="apex")
    assert json.loads((tmp_path / "triage.json.prev").read_text())["flags"] == {
        "a.png": {"flagged": True, "note": ""}
    }
    again = TriageFlags(path)
    assert again.paths() == ["a.png", "b.png"] and again.get("b.png")["note"] == "apex"
    assert again.mask(np.array(["b.png", "a.png", "c.png"])).tolist() == [False, True, False]
    again.set("a.png", flagged=False)  # neither flag nor note: the entry goes
    assert TriageFlags(path).paths() == ["b.png"]


def test_the_csv_quotes_notes_and_joins_the_rows(tmp_path):
    flags = TriageFlags(tmp_path / "triage.json")
    flags.set("a.png", flagged=True, note='left base, "faint"')
    row = {"label": "NORMAL", "probability": 0.75, "decision": 1, "outcome": "FP"}
    assert flags.csv_text({"a.png": row}) == (
        "path,flagged,note,label,probability,decision,outcome\n"
        'a.png,true,"left base, ""faint""",NORMAL,0.75,1,FP\n'
    )


def test_a_foreign_file_and_a_long_note_are_refused(tmp_path):
    path = tmp_path / "triage.json"
    path.write_text('{"rows": []}')
    with pytest.raises(ValueError, match=r"is not a triage flags file .* move it away"):
        TriageFlags(path)
    flags = TriageFlags(tmp_path / "other.json")
    with pytest.raises(ValueError, match=f"at most {MAX_NOTE_CHARS} characters"):
        flags.set("a.png", note="x" * (MAX_NOTE_CHARS + 1))
    assert not (tmp_path / "other.json").exists()
