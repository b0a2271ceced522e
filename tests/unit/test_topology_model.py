"""Topology addresses: defaults, hosts with their own address, and what is refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

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
