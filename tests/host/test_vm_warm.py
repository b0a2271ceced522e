"""The warm VM (`testbed vm up`/`down`, booted by the host tier's warm_vm fixture, which
checks that `vm down` leaves nothing): commands that go to the VM run in it, side by side,
with the same exit codes, streams and files as in a VM of their own; Ctrl-C and --timeout
stop the command, not the VM; a command killed -9 on the host is stopped by `testbed clean`,
which leaves the warm VM up. (tests/host/test_vm_speech.py runs its scenarios in it.)"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from testbed.kernel.process import start_time
from testbed.vm import warm
from tests.cli import clean_process, popen, run_cli
from tests.host.test_vm_lifecycle import one_command_of_each_kind

pytestmark = pytest.mark.timeout(660)


@pytest.fixture
def shared(warm_vm: Path | None) -> Path:
    """The warm VM's scratch directory (booted by this test session, not someone else's)."""
    if warm_vm is None:
        pytest.skip("a warm VM of someone else's is up on this machine: its shares are not this session's")
    return warm_vm


def test_up_again_and_status_say_it_is_up(shared: Path, tmp_path: Path) -> None:
    again = run_cli("vm", "up")
    assert again.returncode == 0 and "was up already" in again.stdout
    assert "the warm testbed VM is up" in run_cli("status").stderr


def test_a_command_in_it_behaves_as_in_a_vm_of_its_own(shared: Path, tmp_path: Path) -> None:
    directory = tmp_path / "each-kind"
    directory.mkdir()
    one_command_of_each_kind(directory)
    boots = {run_cli("vm", "run", "--", "cat", "/proc/sys/kernel/random/boot_id").stdout for _ in range(2)}
    fresh = run_cli("vm", "run", "--fresh", "--", "cat", "/proc/sys/kernel/random/boot_id").stdout
    assert len(boots) == 1 and fresh not in boots and fresh, "both ran in the one VM; --fresh in another"


def test_commands_run_side_by_side_in_it(shared: Path, tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    waiting = popen("vm", "run", "--", "sh", "-c", f"while [ ! -e {flag} ]; do sleep 0.1; done; echo seen",
                    cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert run_cli("vm", "run", "--", "touch", str(flag), cwd=tmp_path).returncode == 0
        out, err = waiting.communicate(timeout=120)
        assert waiting.returncode == 0 and out == "seen\n", err
        assert "running in the warm testbed VM" in err
    finally:
        if waiting.poll() is None:
            waiting.kill()


def test_ctrl_c_and_timeout_stop_the_command_not_the_vm(shared: Path, tmp_path: Path) -> None:
    vm = warm.find()
    timed = run_cli("vm", "run", "--timeout", "5", "--", "sleep", "600", cwd=tmp_path)
    assert timed.returncode == 4 and "did not finish within 5 s; it was stopped" in timed.stderr
    proc = popen("vm", "run", "--", "sh", "-c", "trap 'kill $!; echo stopped; exit 9' INT; sleep 600 & wait",
                 cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _started_in_guest(vm, proc.pid)
    time.sleep(0.5)  # the shell has set its trap
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "stopped" in out
    assert warm.find() is not None and warm.find().pid == vm.pid


def test_ctrl_c_stops_a_testbed_command_in_it_which_cleans_up_in_the_guest(shared: Path, tmp_path: Path) -> None:
    """A testbed command is forked from the guest's command server: Ctrl-C reaches it there,
    and it takes its run down as it would in a process of its own."""
    proc = popen("calls", "satellite", "--seconds", "60", "--results", str(tmp_path / "stopped"), cwd=tmp_path,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = []
    try:
        for line in proc.stderr:
            lines.append(line)
            if "call(s) for 60 s" in line:  # the calls have begun
                break
        assert any("running in the warm testbed VM" in x for x in lines), "".join(lines)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, "".join(lines) + err
    finally:
        if proc.poll() is None:
            proc.kill()
    namespaces = run_cli("vm", "run", "--", "ip", "netns", "list")
    assert namespaces.returncode == 0 and "tb-" not in namespaces.stdout, namespaces.stdout


def test_clean_stops_a_command_whose_host_process_was_killed_and_leaves_the_vm(shared: Path, tmp_path: Path) -> None:
    vm = warm.find()
    proc = popen("vm", "run", "--", "sh", "-c", f"echo $$ > {tmp_path}/guest-pid; exec sleep 600", cwd=tmp_path,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = start_time(proc.pid)
    _started_in_guest(vm, proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    cleaned = clean_process(proc.pid, started)
    assert f"removed the command of pid {proc.pid} in the warm testbed VM" in cleaned.stdout, cleaned.stdout
    guest_pid = (tmp_path / "guest-pid").read_text().strip()
    assert run_cli("vm", "run", "--", "sh", "-c", f"! kill -0 {guest_pid}").returncode == 0, "it was stopped"
    assert warm.find() is not None and warm.find().pid == vm.pid
    assert not list(vm.directory.glob("*.owner")) and not list(vm.directory.glob("*.stdout"))


def _started_in_guest(vm: warm.WarmVM, pid: int) -> None:
    """Wait until the guest has begun the command of host process `pid`."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        stems = [p.stem for p in vm.directory.glob(f"*-{pid}.owner")]
        if stems and any((vm.directory / f"{s}.stdout").exists() for s in stems):
            return
        time.sleep(0.05)
    raise AssertionError("the guest never began the command")
