"""Runs that live in the testbed VM: a netem profile applied from the host, end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .test_vm_lifecycle import _no_vm_left, _qemus  # noqa: F401 - the fixture checks for leftovers

ROOT = Path(__file__).resolve().parents[2]


def _testbed(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "testbed.cli", *args], capture_output=True, text=True,
                          timeout=600, cwd=ROOT)


def test_apply_brings_a_netem_run_up_in_the_vm_and_down_stops_it() -> None:
    run = "vmrun1"
    try:
        applied = _testbed("apply", "ru-2025-calls-degraded", "--run", run)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert "read back and verified" in applied.stdout
        assert run in _testbed("status").stdout
        shown = _testbed("exec", "censor", "--run", run, "--", "tc", "qdisc", "show", "dev", "out0")
        assert "loss gemodel p 8% r 35% 1-h 80% 1-k 1%" in shown.stdout
        ping = _testbed("exec", "caller", "--run", run, "--", "ping", "-c1", "-W2", "198.19.0.2")
        assert ping.returncode == 0
        assert _testbed("clear", "--run", run).returncode == 0
        after = _testbed("exec", "censor", "--run", run, "--", "tc", "qdisc", "show", "dev", "out0")
        assert "netem" not in after.stdout
    finally:
        down = _testbed("down", "--run", run)
    assert down.returncode == 0 and "removed 3 namespaces" in down.stdout
    assert run not in _testbed("status").stdout


def test_a_netem_profile_on_a_host_run_names_the_way_out() -> None:
    run = "hostrun1"
    assert _testbed("up", "--run", run).returncode == 0
    try:
        refused = _testbed("apply", "ru-2025-calls-degraded", "--run", run)
        if "sch_netem" not in subprocess.run([sys.executable, "-c", "from testbed.kernel import probe; "
                                              "print(*probe.available_qdiscs())"], capture_output=True,
                                             text=True, cwd=ROOT).stdout:
            assert refused.returncode == 2 and "is up on this host" in refused.stderr
        else:
            assert refused.returncode == 0
    finally:
        _testbed("down", "--run", run)
