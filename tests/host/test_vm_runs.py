"""Runs that live in the testbed VM: a netem profile applied from the host, end to end."""

from __future__ import annotations

import pytest

from testbed.kernel import probe
from testbed.vm.session import VMSession
from tests.cli import ROOT, run_cli

from .conftest import new_run_id

# the whole test's guard: its slowest command may take 600 s (a TCG VM on a busy machine),
# which pytest-timeout's default of 300 s would cut short
pytestmark = pytest.mark.timeout(660)


def test_apply_brings_a_netem_run_up_in_the_vm_and_down_stops_it(tmp_path) -> None:
    run = new_run_id()
    try:
        applied = run_cli("apply", "ru-2025-calls-degraded", "--run", run, timeout=600)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert "read back and verified" in applied.stdout
        assert run in run_cli("status").stdout
        shown = run_cli("exec", "censor", "--run", run, "--", "tc", "qdisc", "show", "dev", "out0")
        assert "loss gemodel p 8% r 35% 1-h 80% 1-k 1%" in shown.stdout
        ping = run_cli("exec", "caller", "--run", run, "--", "ping", "-c1", "-W2", "198.19.0.2")
        assert ping.returncode == 0
        # a profile outside the tree, applied from another directory: copied into the running VM
        outside = tmp_path / "mine.yaml"
        outside.write_text((ROOT / "profiles" / "satellite.yaml").read_text())
        moved = run_cli("apply", str(outside), "--run", run, cwd=tmp_path)
        assert moved.returncode == 0, moved.stdout + moved.stderr
        assert run_cli("clear", "--run", run).returncode == 0
        after = run_cli("exec", "censor", "--run", run, "--", "tc", "qdisc", "show", "dev", "out0")
        assert "netem" not in after.stdout
    finally:
        down = run_cli("down", "--run", run)
    assert down.returncode == 0 and "removed 3 namespaces" in down.stdout
    assert run not in run_cli("status").stdout
    assert VMSession.find(run) is None


def test_a_netem_profile_on_a_host_run_names_the_way_out() -> None:
    run = new_run_id()
    assert run_cli("up", "--run", run).returncode == 0
    try:
        refused = run_cli("apply", "ru-2025-calls-degraded", "--run", run)
        if "sch_netem" not in probe.available_qdiscs():
            assert refused.returncode == 2 and "is up on this host" in refused.stderr
            assert f"testbed down --run {run}" in refused.stderr
        else:
            assert refused.returncode == 0
    finally:
        run_cli("down", "--run", run)
