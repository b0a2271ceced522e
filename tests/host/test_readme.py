"""The README's quick tour, run as written (as root; the test's own run id stands in for
"main", so a user's run "main" on this machine is never touched)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess

import pytest

from tests.cli import ROOT

from .conftest import new_run_id

# the whole test's guard: its slowest command may take 600 s (a TCG VM on a busy machine),
# which pytest-timeout's default of 300 s would cut short
pytestmark = pytest.mark.timeout(660)


def tour() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## A quick tour", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None, "the quick tour has a shell block"
    return [line.split("  #", 1)[0].strip() for line in block[1].splitlines() if line.strip()]


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
    """The shell lines of README "Test your own app" up to the gateway (its own test runs
    that part: tests/host/test_gateway.py)."""
    section = (ROOT / "README.md").read_text().split("## Test your own app", 1)[1]
    section = section.split("**A real phone behind the censor.**", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    return [line.split("  #", 1)[0].strip() for block in blocks for line in block.splitlines() if line.strip()]


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
        echoes = [line for line in outputs[2].splitlines() if "5000 →" in line and "UDP" in line]
        # of the throttled phase's 100 echoes, the example's own bounds (40-75 % lost) let 25-60 through
        assert 25 <= len(echoes) <= 60, outputs[2][-800:]
    finally:
        for made in (set(results.glob("*-voiceapp")) if results.exists() else set()) - before:
            subprocess.run(["rm", "-rf", str(made)])
