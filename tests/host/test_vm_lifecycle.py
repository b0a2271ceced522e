"""The testbed VM from the host: commands, exit codes, shared files, and no QEMU left behind.

Each test checks only the VMs its own CLI processes started (their QEMU records name the
owning pid), so a VM of someone else's on the machine is never counted or stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from testbed.kernel.process import alive, owned_by, start_time
from testbed.vm.machine import STATE_DIR, read_record
from tests.cli import ROOT, clean_process, popen, run_cli
from tests.host.conftest import assert_untouched

# the whole test's guard: its slowest command may take 600 s (a TCG VM on a busy machine),
# which pytest-timeout's default of 300 s would cut short
pytestmark = pytest.mark.timeout(660)


def vms_of(pid: int, started: int | None = None) -> list[int]:
    """QEMU processes still running that the process `pid` (started at `started`, when given)
    started."""
    found = []
    for pidfile in STATE_DIR.glob("qemu-*.pid"):
        record = read_record(pidfile)
        if owned_by(record.get("owner"), record.get("owner_started"), pid, started) and \
                alive(record.get("pid"), record.get("started")):
            found.append(record["pid"])
    return found


def _wait_for_vm(pid: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not vms_of(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert vms_of(pid), "the VM had started"


def test_build_is_cached() -> None:
    result = run_cli("vm", "build")
    assert result.returncode == 0 and "is cached" in result.stderr


def one_command_of_each_kind(tmp_path: Path, *options: str) -> None:
    """netem, an exit code, each stream on its own, and files written in the tree and in the
    working directory (elsewhere) coming back, in one command (one boot): `vm run OPTIONS`."""
    name = f"written-{uuid.uuid4().hex[:8]}.tmp"
    try:
        result = run_cli("vm", "run", *options, "--", "sh", "-c",
                         f"tc qdisc add dev lo root netem delay 1ms && uname -r > {ROOT / name} && pwd > here.txt "
                         "&& echo out && echo err >&2 && exit 7", cwd=tmp_path)
        assert result.returncode == 7, result.stdout + result.stderr
        assert (result.stdout, result.stderr.splitlines()[-1]) == ("out\n", "err")  # each on its own stream
        assert (ROOT / name).read_text().strip().endswith("amd64")  # the guest's Debian kernel
        assert (tmp_path / "here.txt").read_text().strip() == str(tmp_path)  # same path in the guest
    finally:
        (ROOT / name).unlink(missing_ok=True)


def test_netem_exit_codes_streams_and_files_in_a_vm_of_its_own(tmp_path) -> None:
    one_command_of_each_kind(tmp_path, "--fresh")


def test_a_forwarded_command_reads_a_profile_outside_the_tree(tmp_path) -> None:
    """`calls` with a netem profile from /tmp (not shareable: copied in) run from another
    directory: it goes to the VM with its argv unchanged and its results come back."""
    profile = Path(f"/tmp/testbed-{uuid.uuid4().hex[:8]}.yaml")
    profile.write_text((ROOT / "profiles" / "satellite.yaml").read_text())
    try:
        result = run_cli("calls", str(profile), "--seconds", "2", "--results", "out", cwd=tmp_path, timeout=600)
    finally:
        profile.unlink()
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "running in the testbed VM" in result.stderr
    assert (tmp_path / "out" / "metrics.json").exists() and (tmp_path / "out" / "traces.npz").exists()


def test_timeout_stops_the_vm() -> None:
    proc = popen("vm", "run", "--fresh", "--timeout", "20", "--", "sleep", "600", stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 4 and "did not finish within 20 s" in err
    assert vms_of(proc.pid) == []


def _spec_of(pid: int) -> Path:
    (record,) = [read_record(p) for p in STATE_DIR.glob("qemu-*.pid")
                 if read_record(p).get("owner") == pid]
    return Path(record["spec"])


@pytest.mark.parametrize(("signum", "code", "when"), [(signal.SIGINT, 130, "booting"),
                                                      (signal.SIGTERM, 143, "running")])
def test_a_signal_stops_the_vm(signum: int, code: int, when: str) -> None:
    """While the guest boots there is nothing to clean up: QEMU is stopped at once. Once the
    command runs, the signal is passed on to it and the VM stops when it has ended."""
    proc = popen("vm", "run", "--fresh", "--", "sleep", "600", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for_vm(proc.pid)
        if when == "running":
            output = _spec_of(proc.pid) / "command.stdout"
            deadline = time.monotonic() + 540  # a boot in the emulated VM on a busy machine
            while not output.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert output.exists(), "the guest began the command"
        proc.send_signal(signum)
        assert proc.wait(timeout=60) == code
        assert vms_of(proc.pid) == []
    finally:
        if proc.poll() is None:  # a failed check: stop the command and its VM, as Ctrl-C does
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)


def test_clean_stops_a_vm_orphaned_by_kill_9(users_run: str) -> None:
    proc = popen("vm", "run", "--fresh", "--", "sleep", "600", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = start_time(proc.pid)
    _wait_for_vm(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert vms_of(proc.pid, started), "QEMU outlives a killed parent: only clean can stop it"
    result = clean_process(proc.pid, started)  # only what that process made
    assert "VM process" in result.stdout
    assert vms_of(proc.pid, started) == []
    assert_untouched(users_run)
