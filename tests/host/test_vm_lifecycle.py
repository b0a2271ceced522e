"""The testbed VM from the host: commands, exit codes, shared files, and no QEMU left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _testbed(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "testbed.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def _qemus() -> list[str]:
    return subprocess.run(["pgrep", "-f", "qemu-system-x86_64.*mount_tag=project"], capture_output=True,
                          text=True).stdout.split()


@pytest.fixture(autouse=True)
def _no_vm_left():
    yield
    assert _qemus() == [], "a QEMU process was left running"


def test_build_is_cached() -> None:
    result = _testbed("vm", "build")
    assert result.returncode == 0 and "is cached" in result.stderr


def test_netem_in_the_vm_and_exit_codes() -> None:
    ok = _testbed("vm", "run", "--", "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert _testbed("vm", "run", "--", "sh", "-c", "exit 7").returncode == 7


def test_files_written_in_the_tree_come_back() -> None:
    name = f".testbed-vm/written-{uuid.uuid4().hex[:8]}"
    try:
        result = _testbed("vm", "run", "--", "sh", "-c", f"uname -r > {name}")
        assert result.returncode == 0
        assert (ROOT / name).read_text().strip().endswith("amd64")  # the guest's Debian kernel
    finally:
        (ROOT / name).unlink(missing_ok=True)


def test_timeout_stops_the_vm() -> None:
    result = _testbed("vm", "run", "--timeout", "20", "--", "sleep", "600")
    assert result.returncode == 3 and "did not finish within 20 s" in result.stderr


def test_ctrl_c_stops_the_vm() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "testbed.cli", "vm", "run", "--", "sleep", "600"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not _qemus() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _qemus(), "the VM had started"
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130


def test_clean_stops_a_vm_orphaned_by_kill_9() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "testbed.cli", "vm", "run", "--", "sleep", "600"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not _qemus() and time.monotonic() < deadline:
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _qemus(), "QEMU outlives a killed parent: only clean can stop it"
    result = _testbed("clean")
    assert "VM process" in result.stdout
    time.sleep(0.5)
