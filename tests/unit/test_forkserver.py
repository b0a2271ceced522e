"""The fork server (testbed/kernel/forkserver.py): programs forked from it behave as programs
started anew (their streams, exit codes, signals, timeouts), each in its own process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from testbed.kernel import forkserver, netns

PROGRAM = "tests.unit.forked_program"


def _started(mode: str, stdin: bool = True) -> tuple[forkserver.Forked, int]:
    proc = forkserver.start(None, PROGRAM, [mode], stdin=stdin)
    word, pid, _ = proc.stdout.readline().split()
    assert word == "ready"
    return proc, int(pid)


def test_streams_and_exit_codes_are_the_programs_own() -> None:
    proc, pid = _started("echo")
    assert pid == proc.pid and pid != os.getpid()
    assert proc.poll() is None
    out, err = proc.communicate("said on stdin\n", timeout=30)
    assert (out, err, proc.returncode) == ("SAID ON STDIN\n", "said on stderr\n", 0)
    for code in (0, 3, 255):
        proc, _ = _started("exit")
        proc.stdin.write(f"{code}\n")
        proc.stdin.flush()
        assert proc.wait(timeout=30) == code and proc.poll() == code


def test_a_program_that_raises_prints_its_traceback_and_exits_1() -> None:
    proc, _ = _started("raise")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and "RuntimeError: a bug in a program" in err


def test_a_missing_module_fails_as_python_m_does() -> None:
    proc = forkserver.start(None, "tests.unit.no_such_program", [])
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and "No module named tests.unit.no_such_program" in err and out == ""


def test_kill_terminate_and_a_timeout_are_those_of_popen() -> None:
    proc, _ = _started("sleep")
    with pytest.raises(subprocess.TimeoutExpired):
        proc.communicate(timeout=0.2)
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(timeout=0.1)
    proc.kill()
    assert proc.wait(timeout=30) == -signal.SIGKILL
    proc.kill()  # once it has ended: nothing happens, as with Popen
    proc, _ = _started("sleep", stdin=False)
    assert proc.stdin is None
    proc.terminate()
    assert proc.wait(timeout=30) == -signal.SIGTERM


def test_ctrl_c_interrupts_the_program_as_it_would_one_started_anew() -> None:
    proc, _ = _started("interrupt")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGINT and err.rstrip().endswith("KeyboardInterrupt")


def test_programs_run_side_by_side_each_a_process_of_its_own() -> None:
    started = [_started("sleep") for _ in range(4)]
    assert len({pid for _, pid in started}) == 4
    for proc, _ in started:
        proc.kill()
    assert [proc.wait(timeout=30) for proc, _ in started] == [-signal.SIGKILL] * 4


def test_the_testbeds_own_programs_are_forked_and_others_started_anew() -> None:
    assert netns._testbed_module([sys.executable, "-m", "testbed.traffic.chat", "server", "1"]) == \
        ("testbed.traffic.chat", ["server", "1"])
    assert netns._testbed_module(["python3", "-m", "testbed.traffic.chat"]) is None  # another interpreter
    assert netns._testbed_module([sys.executable, "-m", "pytest"]) is None
    assert netns._testbed_module(["nft", "-f", "-"]) is None
    result = netns.run(None, [sys.executable, "-m", PROGRAM, "echo"], stdin="x")
    assert result.returncode == 0 and result.stdout.endswith("X") and result.stderr == "said on stderr\n"
    with pytest.raises(netns.CommandFailed, match="exit 7"):
        netns.run(None, [sys.executable, "-m", PROGRAM, "exit"], stdin="7\n")
    with pytest.raises(subprocess.TimeoutExpired):
        netns.run(None, [sys.executable, "-m", PROGRAM, "sleep"], timeout=0.3)


def test_the_server_ends_with_the_process_that_started_it() -> None:
    code = (f"from testbed.kernel import forkserver; p = forkserver.start(None, {PROGRAM!r}, ['echo']); "
            "print(forkserver._client.process.pid, flush=True); p.communicate('x', timeout=30)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    server = int(result.stdout.split()[-1])
    deadline = time.monotonic() + 30
    while alive(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(server), "the fork server outlived the command that started it"


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_prestart_forks_the_server_from_a_process_with_one_thread_only() -> None:
    code = (f"import os, threading; from testbed.kernel import forkserver as f; f.prestart(); "
            f"server = f._client.process; p = f.start(None, {PROGRAM!r}, ['echo']); "
            "child = int(p.stdout.readline().split()[1]); out, _ = p.communicate('x', timeout=30); "
            "parent = int(open(f'/proc/{server.pid}/stat').read().rsplit(')', 1)[1].split()[1]); "
            "print(type(server).__name__, parent == os.getpid(), out, p.returncode, child != server.pid); "
            "f._client = None; threading.Thread(target=threading.Event().wait, args=(5,), daemon=True).start(); "
            "f.prestart(); print(f._client is None)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["_ServerCopy", "True", "X", "0", "True", "True"]


def test_a_server_that_died_is_started_again() -> None:
    proc, _ = _started("sleep")
    proc.kill()
    proc.wait(timeout=30)
    server = forkserver._client.process
    server.kill()
    server.wait(timeout=30)
    proc, pid = _started("echo")  # not a BrokenPipeError: a new server forks it
    assert forkserver._client.process.pid != server.pid
    out, _ = proc.communicate("again", timeout=30)
    assert out == "AGAIN" and proc.returncode == 0
