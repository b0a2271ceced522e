"""Runs forwarded to the testbed VM (netem) whose calls' audio comes back to be scored here,
as `sudo make demo` does: the headline scenario end to end, and the catalog signatures whose
expectations listen to the calls (in the VM those would stay pending, so the VM tier leaves
these signatures to this test; TESTBED_SIGNATURES_OUT keeps their records as it does there)."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from testbed.measure.trace import load_traces
from testbed.report.speech import ROW_METRICS
from tests.cli import run_cli
from tests.signatures import check_metric, keep_record, listening

# the whole test's guard: its slowest command may take 1200 s (a TCG VM on a busy machine),
# which pytest-timeout's default of 300 s would cut short
pytestmark = pytest.mark.timeout(1260)


def _run(target: str, tmp_path, warm_vm) -> tuple[dict, list[dict], list[dict]]:
    """`testbed run TARGET --where vm`, in the host tier's warm VM (one boot for them all)."""
    result = run_cli("run", target, "--where", "vm", "--results", str(tmp_path), timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert warm_vm is None or "running in the warm testbed VM" in result.stderr
    assert "Speech, as received" in result.stdout and "scoring speech" in result.stderr
    (directory,) = [d for d in tmp_path.iterdir() if d.is_dir()]
    assert not directory.name.endswith(".partial") and not list(tmp_path.glob(".handoff-*"))
    info = json.loads((directory / "run.json").read_text())
    assert info["complete"] and info["passed"] and info["in_vm"] and not info["speech_pending"]
    assert not list((directory / "traces").glob("*.speech.json"))  # every note was scored
    HTMLParser().feed((directory / "report.html").read_text())
    return (info, json.loads((directory / "metrics.json").read_text()),
            json.loads((directory / "speech.json").read_text()))


def _late_but_on_schedule(directory: Path, entry: dict) -> list[int]:
    """Frames played as late although their packet came within one frame of its schedule."""
    (trace,) = [t for t in load_traces(directory / "traces" / f"rep{entry['repetition']}-{entry['phase']}-"
                                                                f"{entry['workload']}.npz")
                if t.key == f"call{entry['call']}-{entry['direction']}"]
    frame_ns = int(entry["frame_ms"] * 1e6)
    origin = int(np.min(trace.sent["send_ns"] - trace.sent["frame"] * frame_ns))  # the on-time sends
    frame_of = dict(zip(trace.sent["seq"].tolist(), trace.sent["frame"].tolist(), strict=True))
    behind = {frame_of[seq]: recv - (origin + frame_of[seq] * frame_ns)
              for seq, recv in zip(trace.received["seq"].tolist(), trace.received["recv_ns"].tolist(),
                                   strict=True)}
    return [frame for frame, fate in enumerate(entry["fates"]) if fate == "t" and behind[frame] < frame_ns]


def test_the_headline_scenario_is_heard_phase_by_phase(tmp_path, warm_vm) -> None:
    info, rows, speech = _run("ru-2025-calls", tmp_path, warm_vm)
    by = {(r["phase"], r["workload"]): r for r in rows}
    assert by[("restricted", "voip")]["mos_cq"] < by[("baseline", "voip")]["mos_cq"] - 1.5
    assert by[("restricted", "chat")]["delivered"] == 1.0
    assert by[("restricted", "voip")]["pesq"] < by[("baseline", "voip")]["pesq"] - 1.5
    assert [e["phase"] for e in speech] == ["baseline"] * 4 + ["restricted"] * 4 + ["lifted"] * 4
    restricted = [e for e in speech if e["phase"] == "restricted"]
    assert all(e["counts"]["lost"] + e["counts"]["late"] > 0 for e in restricted)
    (directory,) = [d for d in tmp_path.iterdir() if d.is_dir()]
    clean = [e for e in speech if e["phase"] != "restricted"]
    assert all(e["counts"]["lost"] == 0 for e in clean)
    # a busy machine may stall the emulated sender or receiver for tens of milliseconds; the
    # playout must discard nothing else (a packet on schedule is played, not dropped as late)
    assert [f for e in clean for f in _late_but_on_schedule(directory, e)] == []
    page = (directory / "report.html").read_text()
    assert page.count("<audio") == 24  # said and heard, for every scored direction of the three phases


@pytest.mark.parametrize("profile", listening())
def test_signatures_that_listen_hold(profile: str, tmp_path, warm_vm) -> None:
    info, _, speech = _run(profile, tmp_path, warm_vm)
    keep_record(profile, all(c["passed"] for c in info["checks"]), info["checks"], info["kernel"], info["in_vm"])
    assert all(c["passed"] for c in info["checks"])
    heard = [c for c in info["checks"] if check_metric(c["check"]) in ROW_METRICS]
    assert heard and all(c["value"] is not None for c in heard), "the audio's expectations were checked"
    if profile.endswith("blocked"):
        # the blocked voip calls are silence; the WebRTC call that TURN over TLS rescues is heard
        blocked = [e for e in speech if e["phase"] == "calls"]
        assert blocked and all(e["silent"] and e["heard"] == 0 for e in blocked)
        rescued = [e for e in speech if e["phase"] == "webrtc-tls"]
        assert rescued and all(not e["silent"] and e["heard"] > 0 for e in rescued)
