"""The README's quick tour and the guide's app walkthrough, run as written (as root; the test's own run id stands in for
"main", so a user's run "main" on this machine is never touched)."""

from __future__ import annotations

import os
import shlex
import subprocess

import pytest

from tests.cli import ROOT
from tests.readme import shell_lines

from .conftest import new_run_id

# the whole test's guard: its slowest command may take 600 s (a TCG VM on a busy machine),
# which pytest-timeout's default of 300 s would cut short
pytestmark = pytest.mark.timeout(660)


def tour() -> list[str]:
    commands = shell_lines("## A quick tour")
    assert commands, "the quick tour has a shell block"
    return commands


def test_the_quick_tour_runs_as_written() -> None:
    commands = tour()
    assert commands and all(c.startswith(("sudo .venv/bin/testbed ", ".venv/bin/testbed ")) for c in commands)
    run = new_run_id()
    env = {**os.environ, "TESTBED_RUN": run}
    try:
        for command in commands:
            argv = shlex.split(command.replace("--run main", f"--run {run}"))
            if argv[0] == "sudo":
                argv = argv[1:]  # the tests run as root already
            result = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
            assert result.returncode == 0, f"{command}\n{result.stdout[-1500:]}\n{result.stderr[-1500:]}"
    finally:
        subprocess.run([".venv/bin/testbed", "down", "--run", run], capture_output=True, cwd=ROOT)


def app_walkthrough() -> list[str]:
    """The shell lines of the guide's "Test your own app" (the gateway's page has its own
    test: tests/host/test_gateway.py)."""
    return shell_lines("# Test your own app", page="docs/your-app.md")


def test_the_app_walkthrough_runs_as_written() -> None:
    """The example's tests through the fixture, the example as a scenario, and its capture
    read by tshark: the echoes the policer let through."""
    commands = app_walkthrough()
    assert [c.split()[:3] for c in commands] == [["sudo", ".venv/bin/python", "-m"],
                                                 ["sudo", ".venv/bin/testbed", "run"], ["tshark", "-r", '"$(ls']]
    results = ROOT / "results"
    before = set(results.glob("*-voiceapp")) if results.exists() else set()
    try:
        outputs = []
        for command in commands:
            result = subprocess.run(["bash", "-c", command.removeprefix("sudo ")], capture_output=True, text=True,
                                    cwd=ROOT, timeout=300)
            assert result.returncode == 0, f"{command}\n{result.stdout[-1500:]}\n{result.stderr[-1500:]}"
            outputs.append(result.stdout)
        # the README's tshark line, its packets counted: each line is one echo from port 5000
        echoes = [line for line in outputs[2].splitlines() if line.strip()]
        fields = subprocess.run(["bash", "-c", commands[2].removeprefix("sudo ") + " -T fields -e udp.srcport"],
                                capture_output=True, text=True, cwd=ROOT, timeout=120).stdout.split()
        assert fields and set(fields) == {"5000"} and len(fields) == len(echoes)
        # of the throttled phase's 100 echoes, the example's own bounds (40-75 % lost) let 25-60 through
        assert 25 <= len(echoes) <= 60, outputs[2][-800:]
    finally:
        for made in (set(results.glob("*-voiceapp")) if results.exists() else set()) - before:
            subprocess.run(["rm", "-rf", str(made)])
