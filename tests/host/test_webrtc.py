"""Real WebRTC calls (aiortc peers, a signalling server, Debian's coturn) across the censor on
the host kernel: every ICE mode on a clean path, and ru-2025-calls-blocked, under which only
TURN over TLS on 443 connects (scenarios/webrtc-turn-fallback.yaml)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile

from testbed.speech.level import active_level_dbov
from tests.cli import ROOT, run_cli

# the whole test's guard: its slowest command may take 600 s (a TCG VM on a busy machine),
# which pytest-timeout's default of 300 s would cut short
pytestmark = pytest.mark.timeout(660)

MODES = ROOT / "tests" / "data" / "scenarios" / "webrtc-modes.yaml"


def _run(target: str, results: Path) -> tuple[Path, dict, dict[tuple[str, str], dict]]:
    result = run_cli("run", target, "--results", str(results), "--where", "local", timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (directory,) = results.iterdir()
    rows = json.loads((directory / "metrics.json").read_text())
    return directory, json.loads((directory / "run.json").read_text()), {
        (r["phase"], r["workload"]): r for r in rows}


def test_every_ice_mode_connects_on_a_clean_path(tmp_path) -> None:
    directory, info, rows = _run(str(MODES), tmp_path)
    assert info["passed"] and len(info["checks"]) == 9
    for phase, name in (("none", "none"), ("stun", "stun"), ("turn-udp", "udp"), ("turn-tcp", "tcp"),
                        ("turn-tls", "tls")):
        row = rows[(phase, name)]
        assert row["connected"] == 1 and row["loss"] == 0 and row["stalled"] == 0, row
        # G.711: 160 B a packet plus RTP, SRTP and UDP/IP headers (about 50 B), 50 a second: 84 kbit/s;
        # aiortc's Opus (the tls phase) is VBR up to 96 kbit/s of payload
        low, high = (70, 100) if name != "tls" else (20, 120)
        assert low < row["kbit"] < high, row
        assert 0 < row["setup_time"] < 5000 and row["rtt"] < 50, row
    for name in ("udp", "tcp", "tls"):
        log = directory / "traces" / f"rep1-turn-{name}-{name}-turn.log"
        assert log.exists() and "session" in log.read_text(), log
    samples, rate = soundfile.read(str(directory / "traces" / "rep1-none-none-call0-heard.flac"))
    level, _ = active_level_dbov(samples, rate)
    assert rate == 8000 and 3 < len(samples) / rate <= 4 and level > -40  # the callee heard speech
    # the recordings lined up with what was said and scored (a misplaced reference scores PESQ
    # below 2.5, tests/unit/test_recording.py); a clean path loses nothing, but a busy host may
    # stall aiortc's receiver as it stalled the VM's (76 ms, 4 of some 150 speech frames)
    for name in ("none", "tls"):  # PCMU and Opus
        row = next(r for (_, w), r in rows.items() if w == name)
        assert row["heard"] > 0.95 and row["pesq"] > 3.5 and row["stoi"] > 0.9, row
    entries = json.loads((directory / "speech.json").read_text())
    assert {(e["workload"], e["codec"], e["direction"]) for e in entries} >= {("none", "pcmu", "uplink"),
                                                                             ("tls", "opus", "uplink")}
    trace = json.loads((directory / "traces" / "rep1-none-none.json").read_text())
    states = [state for _, kind, state in trace["caller"][0]["timeline"] if kind == "ice"]
    assert states[:2] == ["checking", "completed"], states


def test_under_the_call_block_only_turn_over_tls_connects(tmp_path) -> None:
    _, info, rows = _run("webrtc-turn-fallback", tmp_path)
    assert info["passed"], info["checks"]
    assert rows[("direct", "direct")]["connected"] == 0 and rows[("turn-udp", "udp")]["connected"] == 0
    rescued = rows[("turn-tls", "tls")]
    assert rescued["connected"] == 1 and rescued["pair_relay"] == 1 and rescued["relay_tcp"] == 1
    assert rescued["heard"] > 0.95 and rescued["pesq"] > 3.5, rescued  # and it sounds like a call
    blocked = rows[("direct", "direct")]
    assert blocked["heard"] == 0 and blocked["pesq"] == 1.0, blocked  # a call that never connected: silence


def test_a_call_blocked_at_first_is_dialled_again_and_says_a_users_wav(tmp_path) -> None:
    """The block lifts 4 s into the phase: the first attempt's ICE checks die, the caller dials
    again after connect_timeout, a later attempt connects, and the callee hears the user's WAV."""
    from testbed.speech.reference import speech

    # a user's recording of speech (PESQ rates speech, not test tones): a built-in voice, as a WAV
    soundfile.write(str(tmp_path / "mine.wav"), speech("ru-m", 16000)[: 16000 * 8], 16000, "PCM_16")
    scenario = tmp_path / "redial.yaml"
    scenario.write_text("""
name: redial
title: A call dialled again once the block lifts
topology: {inside: [caller], outside: [callee, sig]}
profiles: {blocked: ru-2025-calls-blocked}
phases:
  - {name: lifted, duration: 12s, schedule: [{at: 0s, profile: blocked}, {at: 4s}]}
workloads:
  - {type: webrtc, connect_timeout: 3s, redials: 3, speech: [mine.wav], scores: [pesq]}
expect:
  - {phase: lifted, check: "webrtc.connected == 1"}
  - {phase: lifted, check: "webrtc.redials >= 1"}
""")
    directory, info, rows = _run(str(scenario), tmp_path / "results")
    row = rows[("lifted", "webrtc")]
    assert info["passed"] and row["pair_host"] == 1 and row["heard"] > 0.95 and row["pesq"] > 3.5, row
    trace = json.loads((directory / "traces" / "rep1-lifted-webrtc.json").read_text())
    caller, callee = trace["caller"][0], trace["callee"][0]
    assert caller["redials"] == callee["redials"] == row["redials"]
    offers = [state for _, kind, state in caller["timeline"] if kind == "redial"]
    assert offers == [str(k) for k in range(1, int(row["redials"]) + 1)]
    (entry,) = json.loads((directory / "speech.json").read_text())
    assert entry["source"] == "mine.wav" and (directory / "traces" / "rep1-lifted-webrtc-call0-said.flac").exists()


def test_testbed_calls_stack_webrtc_reports_each_call_and_keeps_its_scenario(tmp_path) -> None:
    """The same from the command line: two calls under ru-2025-calls-blocked, with TURN over TLS
    (the only way through) and a user's WAV. Each call is reported with its pair; the scenario
    it ran is kept, and `testbed run` takes it as it is."""
    from testbed.speech.reference import speech

    soundfile.write(str(tmp_path / "mine.wav"), speech("en-m", 16000)[: 16000 * 6], 16000, "PCM_16")
    result = run_cli("calls", "ru-2025-calls-blocked", "--stack", "webrtc", "--ice", "turn-tls", "--calls",
                     "2", "--seconds", "6", "--speech", "mine.wav", "--speech", "ru-f", "--json", "--results",
                     str(tmp_path / "results"), "--where", "local", timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["verdict"] == "pass" and report["figures"]["connected"] == 1, report
    assert len(report["calls"]) == 2 and all(c["pair"].endswith("(relay over tls)") for c in report["calls"])
    assert report["figures"]["pesq"] > 3.5 and report["figures"]["heard"] > 0.95, report["figures"]
    entries = json.loads((Path(report["directory"]) / "speech.json").read_text())
    assert sorted(Path(e["source"]).name for e in entries) == ["mine.wav", "ru-f"]  # both calls scored
    kept = Path(report["scenario"])
    again = run_cli("run", str(kept), "--check", cwd=tmp_path / "results")  # from elsewhere: paths absolute
    assert again.returncode == 0 and "ok (1 phases, 1 workloads" in again.stdout, again.stdout + again.stderr
