"""Topologies on both backends, exec, and total cleanup (also after kill -9)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from testbed.errors import InputError
from testbed.kernel import netns
from testbed.kernel.process import start_time
from testbed.topology import build
from testbed.topology.model import TopologySpec, TopologyState, state_path
from tests.cli import clean_process, popen, run_cli

from .conftest import new_run_id


def runs_of(pid: int) -> list[str]:
    """Runs (state files) of a process: its run ids are a letter, its pid and a counter in base 36."""
    from testbed.topology.build import running
    from testbed.topology.model import base36

    return [r for r in running() if r[1:-2] == base36(pid)]


def _namespaces(prefix: str) -> list[str]:
    return [line.split()[0] for line in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                                        text=True).stdout.splitlines() if line.startswith(prefix)]


@pytest.mark.parametrize("backend", ["netns", "mininet"])
def test_backends_route_v4_and_v6_through_the_censor(backend) -> None:
    run = new_run_id()
    spec = TopologySpec(backend=backend, inside=["caller", "relay"], outside=["callee", "server"])
    state = build.up(spec, run)
    try:
        assert sorted(state.nodes) == ["callee", "caller", "censor", "relay", "server"]
        assert state.devices("outside") == ("out0", "out1")
        for src, dst in (("caller", "callee"), ("relay", "server"), ("caller", "server")):
            for family in (4, 6):
                argv = ["ping", f"-{family}", "-c1", "-W2", state.nodes[dst].address(family)]
                result = netns.run(state.nodes[src].netns, argv, check=False)
                assert result.returncode == 0, (src, dst, family, result.stdout)
                assert "ttl=63" in result.stdout or "hlim=63" in result.stdout  # one router hop
        features = netns.run(state.censor.netns, ["ethtool", "-k", "out0"]).stdout
        assert "generic-receive-offload: off" in features
        assert "tcp-segmentation-offload: off" in features
        neigh = netns.run(state.nodes["caller"].netns, ["ip", "neigh", "show", "dev", "eth0"]).stdout
        assert "PERMANENT" in neigh
        assert all(name.startswith(f"tb-{run}-") for name in _namespaces(f"tb-{run}-"))
    finally:
        build.down(run)
    assert _namespaces(f"tb-{run}-") == []
    assert not state_path(run).exists()


def test_same_run_twice_is_refused() -> None:
    run = new_run_id()
    build.up(TopologySpec(), run)
    try:
        with pytest.raises(InputError, match="already up"):
            build.up(TopologySpec(), run)
    finally:
        build.down(run)


def _cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = run_cli(*args, timeout=120)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_cli_up_exec_apply_status_clear_down(tmp_path) -> None:
    run = new_run_id()
    _cli("up", "--run", run)
    try:
        addr = _cli("exec", "caller", "--run", run, "--", "ip", "-o", "-4", "addr", "show", "eth0").stdout
        assert "198.18.0.2/24" in addr
        applied = _cli("apply", "profiles/ru-2021-twitter-throttle-by-address.yaml", "--run", run)
        assert "read back and verified" in applied.stdout
        assert "ru-2021-twitter-throttle-by-address" in _cli("status").stdout
        bad = tmp_path / "bad.yaml"
        bad.write_text("name: bad\ntitle: t\nconfidence: guessed\nclasses: [{name: a, match: {protocol: tcpp}}]\n")
        refused = _cli("apply", str(bad), "--run", run, check=False)
        assert refused.returncode == 2 and f"{bad}:4: classes[0].match.protocol" in refused.stderr
        rules = netns.run(f"tb-{run}-censor", ["nft", "list", "table", "inet", "testbed"]).stdout
        assert "18750 bytes/second" in rules, "a refused profile must leave the applied one in place"
        _cli("clear", "--run", run)
        assert netns.run(f"tb-{run}-censor", ["nft", "list", "tables"]).stdout.strip() == ""
    finally:
        _cli("down", "--run", run)
    assert _namespaces(f"tb-{run}-") == []


def test_clean_removes_a_run_killed_while_coming_up() -> None:
    run = new_run_id()
    proc = popen("up", "--run", run, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = start_time(proc.pid)
    deadline = time.monotonic() + 20
    while not _namespaces(f"tb-{run}-") and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)  # mid-way through, or just after: either must clean up
    proc.wait()
    assert _namespaces(f"tb-{run}-"), "the run had started making namespaces"
    finished = TopologyState.load(run).owner is None  # killed after `up` completed: a kept-up run
    result = _cli("clean", "--run", run) if finished else clean_process(proc.pid, started)
    assert result.returncode == 0 and "clean:" in result.stdout, result.stderr
    assert _namespaces(f"tb-{run}-") == []
    assert not state_path(run).exists()
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert f" tb-{run}-" not in links


def test_try_measures_before_and_after() -> None:
    proc = popen("try", "ru-2021-twitter-throttle-by-address", "--seconds", "1", stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert "TCP down (port 443)" in stdout and "g711 call (UDP 1400)" in stdout
    assert stdout.count("100 % delivered") == 2
    assert "--callee-address" in stderr  # the hint: twitter matches addresses the callee lacks
    assert runs_of(proc.pid) == [], "try left its topology behind"


def test_a_namespace_that_vanishes_is_named(tmp_path) -> None:
    """Someone removes a run's namespace under it: the error names the namespace (exit 4, an
    environment failure), whichever workload meets it first."""
    from testbed.errors import NamespaceVanished
    from testbed.scenario.session import Experiment
    from testbed.traffic.calls import run_calls
    from testbed.traffic.chat import run_chat

    with Experiment(label="h") as session:
        callee = session.endpoint("callee")
        subprocess.run(["ip", "netns", "del", callee.netns], check=True)
        for work in (lambda: run_calls(session.endpoint("caller"), callee, seconds=1),
                     lambda: run_chat(session.endpoint("caller"), callee, count=2)):
            with pytest.raises(NamespaceVanished, match=f"namespace {callee.netns} vanished") as caught:
                work()
            assert caught.value.exit_code == 4
