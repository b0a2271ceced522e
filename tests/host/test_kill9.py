"""kill -9 at 23 points across up, apply, run, calls, vm run and a webrtc run: then
`testbed clean --pid PID` (only what the killed process made: another run's leftovers stay
for their owner) and, for a run that had finished coming up and so is kept up on purpose,
`testbed clean --run ID`, leave nothing of it: no namespace, link, state file, pid file, VM,
WebRTC peer, signalling server or coturn, scratch directory, and the root namespace's nft
tables and qdiscs as they were."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from testbed.kernel import netns, scratch
from testbed.kernel.process import start_time
from testbed.topology.model import STATE_DIR, TopologyState, base36, state_path
from tests.cli import ROOT, clean_process, popen, run_cli

from .conftest import assert_untouched, new_run_id
from .test_vm_lifecycle import vms_of

HOST_SCENARIO = ROOT / "tests" / "data" / "scenarios" / "host.yaml"
WEBRTC_SCENARIO = ROOT / "tests" / "data" / "scenarios" / "webrtc-kill.yaml"
# (command, its arguments, seconds after its start at which it is killed): 4 points each
POINTS = [
    ("up", lambda run, out: ["up", "--run", run], (0.05, 0.2, 0.5, 1.5)),
    ("apply", lambda run, out: ["apply", "ru-2021-twitter-throttle-by-address", "--run", run], (0.1, 0.6, 1.2, 2.5)),
    ("run", lambda run, out: ["run", str(HOST_SCENARIO), "--allow-commands", "--results", out], (0.5, 2.0, 4.0, 7.0)),
    ("calls", lambda run, out: ["calls", "--seconds", "3", "--results", out], (0.3, 1.0, 2.5, 4.5)),
    ("vm-run", lambda run, out: ["vm", "run", "--fresh", "--", "sleep", "60"], (1.0, 4.0, 8.0, 14.0)),
    ("webrtc", lambda run, out: ["run", str(WEBRTC_SCENARIO), "--where", "local", "--results", out], (1.5, 3.0, 5.0)),
]
CASES = [(name, args, delay) for name, args, delays in POINTS for delay in delays]


def _root_state() -> tuple[str, str]:
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    qdiscs = subprocess.run(["tc", "qdisc", "show"], capture_output=True, text=True).stdout
    return tables, qdiscs


def leftovers(run: str, pid: int, started: int | None) -> list[str]:
    """Everything the killed process (or its run) could have left on this machine."""
    prefixes = [f"tb-{run}-", *(f"tb-{letter}{base36(pid)}" for letter in "sctmx")]
    found = [f"namespace {p.name}" for p in netns.NETNS_DIR.glob("tb*")
             if any(p.name.startswith(x) for x in prefixes) or p.name == f"tb.probe-{pid}"]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    found += [f"link {line.split(':')[1].strip()}" for line in links.splitlines()
              if any(f" {x}" in line for x in prefixes)]
    found += [f"state {p.name}" for p in STATE_DIR.glob("*.json")
              if p.stem == run or (p.stem[1:-2] == base36(pid) and p.stem[0] in "sctmx")]
    found += [f"pid file of VM {vm}" for vm in vms_of(pid, started)]
    found += [f"VM run record {p.name}" for p in (STATE_DIR / "vm-runs").glob(f"{run}.*")]
    # a webrtc workload's peers, signalling server and coturn name their run in their files
    programs = subprocess.run(["pgrep", "-af", "testbed-scratch-"], capture_output=True, text=True).stdout
    found += [f"process {line}" for line in programs.splitlines()
              if any(f"webrtc-{letter}{base36(pid)}" in line for letter in "sctmx")]
    found += [f"scratch directory {path}" for path in scratch.leftovers(pid)]
    return found


@pytest.mark.alone  # its root namespace's tables and qdiscs must be as they were
@pytest.mark.parametrize(("name", "args", "delay"), CASES, ids=[f"{n}-{d:g}s" for n, _, d in CASES])
def test_kill_9_then_clean_leaves_nothing(tmp_path: Path, name: str, args, delay: float, users_run: str) -> None:
    run = new_run_id()
    before = _root_state()
    proc = popen(*args(run, str(tmp_path / "out")), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = start_time(proc.pid)
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    cleaned = clean_process(proc.pid, started)  # only what that process made
    assert cleaned.returncode == 0, cleaned.stderr
    assert_untouched(users_run)  # a run of someone else's, kept up beside: not a leftover of it
    if state_path(run).exists():
        assert TopologyState.load(run).owner is None, "a run whose process is gone must be a leftover"
        assert run_cli("clean", "--run", run).returncode == 0  # it had come up: kept up on purpose
    assert leftovers(run, proc.pid, started) == []
    assert _root_state() == before
