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
