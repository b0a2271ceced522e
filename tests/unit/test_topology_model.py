"""Topology addresses: defaults, hosts with their own address, and what is refused; run ids
and whose run `testbed clean --pid` takes a run for."""

from __future__ import annotations

import itertools
import re
from unittest.mock import patch

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from testbed.topology import model
from testbed.topology.model import HostSpec, TopologySpec, plan_addresses


def _interfaces(spec: TopologySpec) -> dict[str, str]:
    state = plan_addresses(spec, "t")
    out = {n.name: n.interfaces[0].ipv4 for n in state.nodes.values() if n.side != "censor"}
    out.update({i.name: i.ipv4 for i in state.censor.interfaces})
    return out


def test_defaults_use_the_benchmarking_ranges() -> None:
    assert _interfaces(TopologySpec()) == {"caller": "198.18.0.2/24", "callee": "198.19.0.2/24",
                                           "in0": "198.18.0.1/24", "out0": "198.19.0.1/24"}


def test_a_host_can_sit_in_a_censored_range_and_the_censor_takes_a_neighbour() -> None:
    spec = TopologySpec(outside=["tg=149.154.167.51", {"name": "dc", "address": "5.9.0.1/30"}, "callee"])
    got = _interfaces(spec)
    assert got["tg"] == "149.154.167.51/24" and got["out0"] == "149.154.167.1/24"
    assert got["dc"] == "5.9.0.1/30" and got["out1"] == "5.9.0.2/30"  # .1 is the host's: the next one
    assert got["callee"] == "198.19.2.2/24"  # default hosts keep their position's prefix
    assert spec.names == ["caller", "tg", "dc", "callee"]


@pytest.mark.parametrize("address, message", [
    ("5.9.0.0/24", "network's own"),
    ("5.9.0.255/24", "broadcast"),
    ("5.9.0.2/31", "at most /30"),
    ("hetzner", "not an IPv4 address"),
    ("2a01::1/64", "not an IPv4 address"),
])
def test_bad_host_addresses_are_refused(address: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        HostSpec(name="x", address=address)


def test_overlapping_hosts_are_refused() -> None:
    with pytest.raises(ValidationError, match="overlap"):
        TopologySpec(outside=["a=198.19.1.9/24", "b"])  # b's default is 198.19.1.2/24


@given(pid=st.integers(1, 36**5 - 1), other=st.integers(1, 36**5 - 1), counter=st.integers(0, 1295))
def test_a_run_id_names_the_process_that_gave_it_out(pid: int, other: int, counter: int) -> None:
    with patch("os.getpid", return_value=pid), patch.object(model, "_sessions", itertools.count(counter)):
        run_id = model.unique_run_id("session")
    assert re.fullmatch(model.RUN_ID_PATTERN, run_id)
    assert model.made_by(run_id, pid)
    assert model.made_by(run_id, other) == (other == pid)


def test_clean_pid_judges_by_the_recorded_owner_first(tmp_path, monkeypatch) -> None:
    from testbed.topology import cleanup

    monkeypatch.setattr(model, "STATE_DIR", tmp_path)
    given_out_by_7 = f"s{model.base36(7)}00"
    assert cleanup.created_by(given_out_by_7, 7)  # no state file: the id says who made it
    state = plan_addresses(TopologySpec(), given_out_by_7)
    state.owner = 9  # e.g. a run id passed with --run to another process
    state.save()
    assert cleanup.created_by(given_out_by_7, 9) and not cleanup.created_by(given_out_by_7, 7)
    assert not cleanup.created_by("main", 7)
    state.owner_started = 500  # ... which started at tick 500
    state.save()
    assert cleanup.created_by(given_out_by_7, 9, started=500)
    # an earlier process that had pid 9 (pids wrap) is not the one `clean --pid 9 --pid-started 600` names
    assert not cleanup.created_by(given_out_by_7, 9, started=600)


def test_a_process_that_exited_is_not_alive_before_it_is_reaped() -> None:
    import subprocess
    import time

    from testbed.kernel.process import alive, start_time

    child = subprocess.Popen(["sleep", "30"])
    started = start_time(child.pid)
    assert started is not None and alive(child.pid, started)
    child.kill()
    deadline = time.monotonic() + 5
    while alive(child.pid, started) and time.monotonic() < deadline:  # a zombie until waited for
        time.sleep(0.01)
    try:
        assert start_time(child.pid) is None and not alive(child.pid, started)
    finally:
        child.wait()


def test_a_recorded_owner_is_one_process_pid_and_start_time() -> None:
    from testbed.kernel.process import owned_by

    assert owned_by(9, 500, 9, None) and owned_by(9, None, 9, None)  # the pid alone: any process with it
    assert owned_by(9, 500, 9, 500)
    assert not owned_by(9, 500, 9, 600)  # the same pid, another process
    assert not owned_by(9, None, 9, 500)  # no start time on record: not provably that process
    assert not owned_by(8, 500, 9, 500) and not owned_by(None, None, 9, None)
