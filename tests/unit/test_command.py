"""The `command` workload, the pure parts: placeholders and a program's own metrics (its
runs, servers and readiness are tests/host/test_command.py)."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from testbed.scenario.workloads.command import Command, app_metrics, fill, placeholders


def test_placeholders_are_found_and_filled_and_double_braces_are_literal() -> None:
    argument = "--peer={callee.ipv4}:5000 --json={{\"a\": 1}} --out={results}/x"
    assert placeholders(argument) == ["callee.ipv4", "results"]
    assert fill(argument, {"callee.ipv4": "198.19.0.2", "results": "/r"}) == \
        '--peer=198.19.0.2:5000 --json={"a": 1} --out=/r/x'


@pytest.mark.parametrize(("argument", "message"), [
    ("{callee}", "unknown placeholder {callee}"),
    ("{callee.mac}", "unknown placeholder {callee.mac}"),
    ("{.ipv4}", "unknown placeholder {.ipv4}"),
    ("{results", "expected '}' before end of string"),
    ("x}", "Single '}' encountered"),
])
def test_a_bad_placeholder_is_refused(argument: str, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        Command(type="command", name="app", node="caller", run=["app", argument])


def test_placeholder_hosts_are_checked_against_the_topology_with_their_place() -> None:
    app = Command(type="command", name="app", node="caller", run=["app", "{callee.ipv6}", "{relay.ipv4}"])
    assert app.nodes() == {"node": "caller", ("run", 1): "callee", ("run", 2): "relay"}


@pytest.mark.parametrize(("stdout", "metrics"), [
    ('starting\n{"loss_pct": 3.2, "calls": 4}\n', {"loss_pct": 3.2, "calls": 4.0}),
    ('{"loss_pct": 1}\nprogress\n{"loss_pct": 2, "ok": true}\n', {"loss_pct": 2.0, "ok": 1.0}),
    ('{"Bad-Key": 1, "text": "x", "nan": NaN, "exit_code": 9, "nested": {"a": 1}}\n', {}),
    ('{"loss_pct": 2}\n{broken\n[1, 2]\n', {"loss_pct": 2.0}),
    ("no json at all\n", {}),
])
def test_the_last_json_object_on_stdout_gives_the_programs_metrics(stdout: str, metrics: dict) -> None:
    assert app_metrics(stdout) == metrics


def test_readiness_is_for_servers_and_one_condition() -> None:
    server = Command(type="command", name="srv", node="callee", run=["srv"], background=True,
                     ready={"stdout": "listening", "timeout": "3s"})
    assert server.serves() and server.ready.timeout == 3e9
    with pytest.raises(ValidationError, match="set background: true"):
        Command(type="command", name="srv", node="callee", run=["srv"], ready={"port": 5000})
    with pytest.raises(ValidationError, match="give port or stdout"):
        Command(type="command", name="srv", node="callee", run=["srv"], background=True, ready={})
    with pytest.raises(ValidationError, match="runs until the phase's other workloads end"):
        Command(type="command", name="srv", node="callee", run=["srv"], background=True, timeout="5s")
