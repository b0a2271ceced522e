"""The guest's agent (testbed/vm/guest_init.py), run here on a spec directory of its own: it
serves commands side by side (a warm VM serves every command of the machine), passes an
interrupt on to its command, survives a command it cannot start, and at poweroff stops the
commands still running."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.cli import ROOT


def start_agent(spec_dir: Path, monkeypatch, env: dict | None = None) -> tuple:
    """The agent of guest_init.py serving `spec_dir` in a thread: (the module, the thread, its
    return values)."""
    spec = importlib.util.spec_from_file_location("guest_init", ROOT / "testbed" / "vm" / "guest_init.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "SPEC", str(spec_dir))
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(module.agent(env or dict(os.environ))), daemon=True)
    thread.start()
    while not (spec_dir / "ready").exists():
        time.sleep(0.01)
    return module, thread, result


@pytest.fixture
def agent(tmp_path, monkeypatch):
    _, thread, result = start_agent(tmp_path, monkeypatch)
    yield tmp_path
    submit(tmp_path, "zz-poweroff", ["poweroff"])
    thread.join(timeout=20)
    assert result == [0]


def submit(spec: Path, name: str, argv: list, **extra) -> None:
    (spec / "inbox" / f"{name}.tmp").write_text(json.dumps({"argv": argv, "cwd": str(spec), **extra}))
    (spec / "inbox" / f"{name}.tmp").rename(spec / "inbox" / f"{name}.json")


def exit_of(spec: Path, name: str, within: float = 20) -> int:
    deadline = time.monotonic() + within
    while not (spec / f"{name}.exit").exists():
        assert time.monotonic() < deadline, f"{name} did not end"
        time.sleep(0.02)
    return int((spec / f"{name}.exit").read_text())


def test_commands_run_side_by_side_and_each_gets_its_own_output(agent) -> None:
    # c0 waits for what c2 does: one command after another, c0 would never end
    submit(agent, "c0", ["sh", "-c", f"while [ ! -e {agent}/flag ]; do sleep 0.05; done; echo out0; exit 0"])
    submit(agent, "c1", ["sh", "-c", "echo out1; echo err1 >&2; exit 1"])
    submit(agent, "c2", ["sh", "-c", f"sleep 0.2; touch {agent}/flag; echo out2; exit 2"])
    assert [exit_of(agent, f"c{k}") for k in range(3)] == [0, 1, 2]
    assert [(agent / f"c{k}.stdout").read_text() for k in range(3)] == [f"out{k}\n" for k in range(3)]
    assert (agent / "c1.stderr").read_text() == "err1\n"


def test_an_interrupt_reaches_the_command_and_a_bad_one_does_not_stop_the_agent(agent) -> None:
    submit(agent, "long", ["sh", "-c", "trap 'kill $!; exit 42' TERM; sleep 60 & wait"])
    while not (agent / "long.stdout").exists():
        time.sleep(0.02)
    time.sleep(0.3)  # the shell has set its trap
    (agent / "long.interrupt").write_text(str(int(signal.SIGTERM)))
    assert exit_of(agent, "long") == 42
    submit(agent, "missing", ["/nonexistent/program"])
    assert exit_of(agent, "missing") == 127
    submit(agent, "broken", ["true"], copies=[{"from": "files/none", "to": str(agent / "x" / "y")}])
    assert exit_of(agent, "broken") == 125 and "cannot start" in (agent / "broken.stderr").read_text()
    submit(agent, "after", ["true"])
    assert exit_of(agent, "after") == 0


def test_poweroff_stops_the_commands_still_running(tmp_path, monkeypatch) -> None:
    _, thread, done = start_agent(tmp_path, monkeypatch)
    submit(tmp_path, "1-sleeper", ["sh", "-c", f"echo $$ > {tmp_path}/pid; exec sleep 60"])
    while not (tmp_path / "pid").exists() or not (tmp_path / "pid").read_text().strip():
        time.sleep(0.02)
    pid = int((tmp_path / "pid").read_text())
    submit(tmp_path, "zz-poweroff", ["poweroff"])
    thread.join(timeout=20)
    assert done == [0]
    assert not Path(f"/proc/{pid}").exists(), "the command was stopped and reaped at poweroff"


def test_testbed_commands_are_forked_from_the_command_server(tmp_path, monkeypatch) -> None:
    """`python3 -m testbed.cli ...` goes to the command server (testbed/cli/zygote.py): the
    command's output, exit code, working directory and environment are its own."""
    import sys

    served: list[str] = []
    # python3 is this interpreter, and the project importable, as in the guest
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}
    module, thread, done = start_agent(tmp_path, monkeypatch, env)
    submit_to_server = module.Zygote.submit
    monkeypatch.setattr(module.Zygote, "submit", lambda self, c, e, stem: (served.append(stem),
                                                                            submit_to_server(self, c, e, stem)))
    try:
        work = tmp_path / "work"
        work.mkdir()
        (work / "satellite.yaml").write_text((ROOT / "profiles" / "satellite.yaml").read_text())
        submit(tmp_path, "t1", ["python3", "-m", "testbed.cli", "plan", "satellite.yaml", "--json"],
               cwd=str(work), env={"COLUMNS": "100"})
        submit(tmp_path, "t2", ["python3", "-m", "testbed.cli", "plan", "no-such-profile"])
        assert exit_of(tmp_path, "t1", within=120) == 0, (tmp_path / "t1.stderr").read_text()
        assert json.loads((tmp_path / "t1.stdout").read_text())["profile"] == "satellite"
        assert exit_of(tmp_path, "t2", within=120) == 2
        assert "no-such-profile" in (tmp_path / "t2.stderr").read_text()
        assert served == [str(tmp_path / "t1"), str(tmp_path / "t2")]
    finally:
        submit(tmp_path, "zz-poweroff", ["poweroff"])
        thread.join(timeout=30)
    assert done == [0]
