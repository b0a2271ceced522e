"""The headline scenario's behaviour on the VM's kernel: a failing expectation exits 1, and
SIGTERM cleans up and marks the results incomplete. (The scenario itself, with its calls'
audio scored on the host, runs in tests/host/test_vm_speech.py, as `make demo` runs it.)"""

from __future__ import annotations

# the same behaviour on the VM's kernel: a failing expectation exits 1; SIGTERM (what CI and
# systemd send) cleans up and marks the results incomplete
from tests.host.test_scenarios import interrupt_run, test_failing_expectation_exits_1  # noqa: E402, F401


def test_sigterm_leaves_nothing_and_marks_results_incomplete(tmp_path) -> None:
    import signal

    interrupt_run(tmp_path, signal.SIGTERM)
