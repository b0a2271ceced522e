"""The example app's tests through the fixture inside the testbed VM, as README "Test your own
app" tells people to run them on a kernel without netem (`testbed vm run -- python3 -m
pytest PATH`): the fixture is installed in the VM, and the example's tests pass there."""

from __future__ import annotations

import subprocess
import sys

from tests.cli import ROOT


def test_the_examples_tests_pass_through_the_fixture_in_the_vm() -> None:
    result = subprocess.run([sys.executable, "-m", "pytest", "examples/voiceapp", "-p", "no:cacheprovider",
                             "--color=no"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0 and "2 passed" in result.stdout, result.stdout[-2000:] + result.stderr[-2000:]
