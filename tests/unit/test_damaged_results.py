"""A results directory damaged on disk (half-written, truncated, another tool's file): every
command that reads one exits 2 naming the file, never a traceback (exit 4)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.cli import run_cli

RUN = {"scenario": "demo", "title": "Demo", "started": "20261123T000000Z", "kernel": "6.1", "complete": True,
       "definition": {"phases": [{"name": "restricted"}], "workloads": [], "expect": [], "output": {"plots": False}},
       "checks": [{"phase": "restricted", "check": "voip.pesq < 2.5", "value": None, "passed": False,
                   "pending": True}]}
ROW = {"repetition": 1, "phase": "restricted", "workload": "voip", "type": "voip", "mos_cq": 2.0}
ENTRY = {"repetition": 1, "phase": "restricted", "workload": "voip", "call": 0, "direction": "uplink",
         "audio": "audio/heard.flac", "reference": "audio/said.flac", "heard": 0.5,
         "scores": {"pesq": 2.0, "visqol": 3.0, "dnsmos": 2.5, "plcmos": 2.5, "stoi": 0.8}}


def _results(tmp_path: Path, name: str = "r", run: object = RUN, rows: object = (ROW,)) -> Path:
    directory = tmp_path / name
    directory.mkdir()
    (directory / "run.json").write_text(json.dumps(run))
    (directory / "metrics.json").write_text(json.dumps(list(rows) if isinstance(rows, tuple) else rows))
    return directory


def _refused(result, *names: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and all(name in result.stderr for name in names), result.stderr


@pytest.mark.parametrize(("run", "rows", "file"), [
    ([], [ROW], "run.json"),
    ({"scenario": "demo"}, [ROW], "run.json"),
    ({**RUN, "definition": "x"}, [ROW], "run.json"),
    (RUN, {"rows": 1}, "metrics.json"),
    (RUN, [{"phase": "p"}], "metrics.json"),
], ids=["a-list", "keys-missing", "definition-not-an-object", "rows-not-a-list", "row-without-keys"])
def test_a_record_of_another_shape_is_named(tmp_path, run, rows, file) -> None:
    directory = _results(tmp_path, run=run, rows=rows)
    for command in ("report", "score", "listen") if run == [] else ("report",):  # all read through one load()
        _refused(run_cli(command, str(directory)), file)


def test_a_half_written_note_of_calls_to_score_is_named(tmp_path) -> None:
    directory = _results(tmp_path)
    (directory / "traces").mkdir()
    (directory / "traces" / "rep1-restricted-voip.speech.json").write_text('{"repetition": 1, "pha')
    _refused(run_cli("score", str(directory)), "rep1-restricted-voip.speech.json")
    (directory / "traces" / "rep1-restricted-voip.speech.json").write_text('{"repetition": 1}')
    _refused(run_cli("score", str(directory)), "not a note of calls to score")


@pytest.mark.parametrize("asked", [["polqa"], [], "pesq"], ids=["unknown", "empty", "not-a-list"])
def test_a_note_asking_for_scores_that_do_not_exist_is_named(tmp_path, asked) -> None:
    directory = _results(tmp_path)
    (directory / "traces").mkdir()
    note = {"repetition": 1, "phase": "restricted", "workload": "voip", "frames": 10, "traces": "t.npz",
            "calls": [{"call": 0, "uplink": "m.npz", "downlink": "m.npz"}], "scores": asked}
    (directory / "traces" / "rep1-restricted-voip.speech.json").write_text(json.dumps(note))
    _refused(run_cli("score", str(directory)), "rep1-restricted-voip.speech.json", "not a list of speech scores")


@pytest.mark.parametrize("change", [{"kind": ["webrtc"]}, {"kind": "webrtc", "calls": [
    {"call": 0, "recording": "r.flac", "source": "en-f", "codec": "pcmu", "played": 7}]}, {"traces": 3},
    {"frames": "10"}, {"calls": [{"call": "0", "uplink": "m.npz", "downlink": "m.npz"}]}],
    ids=["kind-a-list", "played-not-text", "traces-a-number", "frames-text", "call-text"])
def test_a_note_with_values_of_the_wrong_type_is_named(tmp_path, change) -> None:
    directory = _results(tmp_path)
    (directory / "traces").mkdir()
    note = {"repetition": 1, "phase": "restricted", "workload": "voip", "frames": 10, "traces": "t.npz",
            "calls": [{"call": 0, "uplink": "m.npz", "downlink": "m.npz"}], **change}
    (directory / "traces" / "rep1-restricted-voip.speech.json").write_text(json.dumps(note))
    _refused(run_cli("score", str(directory)), "rep1-restricted-voip.speech.json", "not a note of calls to score")


def test_a_truncated_trace_is_named(tmp_path) -> None:
    directory = _results(tmp_path)
    (directory / "traces").mkdir()
    np.savez(directory / "traces" / "t.npz", a=np.arange(1000))
    whole = (directory / "traces" / "t.npz").read_bytes()
    (directory / "traces" / "t.npz").write_bytes(whole[: len(whole) // 2])
    note = {"repetition": 1, "phase": "restricted", "workload": "voip", "frames": 10, "traces": "t.npz",
            "calls": [{"call": 0, "uplink": "m.npz", "downlink": "m.npz"}]}
    (directory / "traces" / "rep1-restricted-voip.speech.json").write_text(json.dumps(note))
    _refused(run_cli("score", str(directory)), "t.npz")


def test_damaged_scored_calls_and_audio_are_named(tmp_path) -> None:
    directory = _results(tmp_path)
    (directory / "speech.json").write_text("[1, 2")
    _refused(run_cli("listen", str(directory)), "speech.json")
    _refused(run_cli("report", str(directory)), "speech.json")
    (directory / "speech.json").write_text(json.dumps([ENTRY]))
    (directory / "audio").mkdir()
    (directory / "audio" / "said.flac").write_bytes(b"fLaC" + bytes(100))
    _refused(run_cli("listen", str(directory), "--out", str(tmp_path / "wav")), "said.flac")
    _refused(run_cli("report", str(directory)), "heard.flac")  # missing


def test_compare_shows_a_pending_check_as_pending(tmp_path) -> None:
    before = _results(tmp_path, "a")
    after = _results(tmp_path, "b", run={**RUN, "checks": [{**RUN["checks"][0], "value": 2.0, "passed": True,
                                                             "pending": False}]})
    shown = run_cli("compare", str(before), str(after))
    assert shown.returncode == 0, shown.stderr
    assert "expectation voip.pesq < 2.5 in restricted: pending -> pass" in shown.stdout
