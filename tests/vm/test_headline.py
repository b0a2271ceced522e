"""The headline scenario, end to end inside the VM: its expectations hold (exit 0) and its
report files exist and parse."""

from __future__ import annotations

import json

from tests.cli import run_cli


def test_ru_2025_calls_scenario_passes(tmp_path) -> None:
    result = run_cli("run", "ru-2025-calls", "--results", str(tmp_path), timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (directory,) = tmp_path.iterdir()
    info = json.loads((directory / "run.json").read_text())
    assert info["complete"] and info["passed"] and info["in_vm"]
    rows = {(r["phase"], r["workload"]): r for r in json.loads((directory / "metrics.json").read_text())}
    assert rows[("restricted", "voip")]["mos_cq"] < rows[("baseline", "voip")]["mos_cq"] - 1.5
    assert rows[("lifted", "voip")]["mos_cq"] > 4.0
    assert rows[("restricted", "chat")]["delivered"] == 1.0
    from html.parser import HTMLParser

    HTMLParser().feed((directory / "report.html").read_text())
    for png in ("timeline.png", "delay_cdf.png", "phases.png"):
        assert (directory / png).read_bytes()[:4] == b"\x89PNG"


# the same behaviour on the VM's kernel: a failing expectation exits 1; SIGTERM (what CI and
# systemd send) cleans up and marks the results incomplete
from tests.host.test_scenarios import interrupt_run, test_failing_expectation_exits_1  # noqa: E402, F401


def test_sigterm_leaves_nothing_and_marks_results_incomplete(tmp_path) -> None:
    import signal

    interrupt_run(tmp_path, signal.SIGTERM)
