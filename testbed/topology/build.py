"""Bring a topology up and down. Two backends share everything after the namespaces exist:

- netns: namespaces made with pyroute2, veth pairs created straight into them;
- mininet: Mininet (hosts only, no switch, no controller) makes the hosts and links, and
  each host's namespace is then given its run-scoped name with `ip netns attach`, so the
  same configuration, apply engine and cleanup work on both.

Either way: addresses (IPv4 and IPv6), routes through the censor, forwarding on, offloads
(GRO/GSO/TSO) off, and permanent neighbour entries so no first packet waits on ARP.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import socket
import subprocess
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from pyroute2 import netns as pyroute2_netns

from testbed.errors import EnvironmentFailure, InputError
from testbed.kernel import netns, offloads, readers
from testbed.kernel.process import start_time
from testbed.kernel.tc import ROOT_HANDLE
from testbed.topology.model import (
    NS_PREFIX,
    STATE_DIR,
    NatLink,
    Node,
    TopologySpec,
    TopologyState,
    nat_table,
    plan_addresses,
    state_path,
)

if TYPE_CHECKING:
    from pyroute2 import IPRoute

IFA_F_NODAD = 0x02
Progress = Callable[[str], None]


class TopologyError(EnvironmentFailure):
    pass


def up(spec: TopologySpec, run_id: str, progress: Progress = lambda _: None,
       owner: int | None = None) -> TopologyState:
    """Build the topology of `spec` as run `run_id`. `owner`: the pid that holds the run and
    tears it down (none for a run kept up by `testbed up`)."""
    state = plan_addresses(spec, run_id)
    state.owner, state.owner_started = owner, start_time(owner) if owner else None
    taken = [n.netns for n in state.nodes.values() if netns.exists(n.netns)]
    if taken or not state.claim():  # the state file comes first: it says whose namespaces these are
        raise InputError.single(f"run {run_id!r} is already up; `testbed down --run {run_id}` first")
    try:
        if spec.backend == "mininet":
            from testbed.topology.mininet_backend import create_hosts_and_links

            progress("creating hosts and links with Mininet")
            create_hosts_and_links(state)
        else:
            progress("creating namespaces and links")
            _create_netns(state)
        progress("configuring addresses, routes and neighbours")
        _configure(state)
        if spec.link and (spec.link.rate or spec.link.delay):
            progress("shaping the base links")
            _base_links(state, spec)
        if spec.nat:
            progress("linking the censor to this machine (NAT)")
            _nat(state)
        state.save()
    except BaseException:
        down(run_id, state)
        raise
    return state


def _create_netns(state: TopologyState) -> None:
    for node in state.nodes.values():
        netns.create(node.netns)
    censor = state.censor
    with netns.route(censor.netns) as ipr:
        for iface in censor.interfaces:
            peer = state.nodes[iface.peer_node]
            ipr.link("add", ifname=iface.name, kind="veth",
                     peer={"ifname": iface.peer_interface, "net_ns_fd": peer.netns})


def _configure(state: TopologyState) -> None:
    # one netlink socket per namespace for all of it: each takes a forked helper process
    # (about 0.15 s in the emulated VM), and three per node took a third of `up` there
    with contextlib.ExitStack() as stack:
        sockets = {node.name: stack.enter_context(netns.route(node.netns)) for node in state.nodes.values()}
        for node in state.nodes.values():
            sysctls = {"net.ipv6.conf.all.accept_dad": "0", "net.ipv6.conf.default.accept_dad": "0"}
            if node.side == "censor":
                sysctls |= {"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1"}
            netns.write_sysctls(node.netns, sysctls)
            _addresses(state, node, sockets[node.name])
            netns.inside(node.netns, lambda node=node: offloads.off([i.name for i in node.interfaces]))
        _neighbours(state, sockets)


def _addresses(state: TopologyState, node: Node, ipr: IPRoute) -> None:
    ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
    for iface in node.interfaces:
        index = ipr.link_lookup(ifname=iface.name)[0]
        for cidr in (iface.ipv4, iface.ipv6):
            address, length = cidr.split("/")
            ipr.addr("add", index=index, address=address, prefixlen=int(length), flags=IFA_F_NODAD)
        ipr.link("set", index=index, state="up")
    if node.side != "censor":
        ipr.route("add", dst="0.0.0.0/0", gateway=_peer_address(state, node, 4))
        ipr.route("add", dst="::/0", gateway=_peer_address(state, node, 6), family=socket.AF_INET6)


def _peer_address(state: TopologyState, node: Node, family: int) -> str:
    iface = node.interfaces[0]
    peer = state.nodes[iface.peer_node]
    for candidate in peer.interfaces:
        if candidate.name == iface.peer_interface:
            return (candidate.ipv4 if family == 4 else candidate.ipv6).split("/")[0]
    raise TopologyError(f"no peer interface for {node.name}")


def _neighbours(state: TopologyState, sockets: dict[str, IPRoute]) -> None:
    """Permanent ARP/NDP entries on both ends of every link: no packet waits on resolution."""
    macs: dict[tuple[str, str], str] = {}
    for node in state.nodes.values():
        ipr = sockets[node.name]
        for iface in node.interfaces:
            link = ipr.get_links(ipr.link_lookup(ifname=iface.name)[0])[0]
            macs[(node.name, iface.name)] = link.get_attr("IFLA_ADDRESS")
    for node in state.nodes.values():
        ipr = sockets[node.name]
        for iface in node.interfaces:
            index = ipr.link_lookup(ifname=iface.name)[0]
            peer = state.nodes[iface.peer_node]
            peer_iface = next(i for i in peer.interfaces if i.name == iface.peer_interface)
            mac = macs[(peer.name, peer_iface.name)]
            for cidr in (peer_iface.ipv4, peer_iface.ipv6):
                address = cidr.split("/")[0]
                family = socket.AF_INET if ipaddress.ip_address(address).version == 4 else socket.AF_INET6
                ipr.neigh("replace", dst=address, lladdr=mac, ifindex=index, state="permanent", family=family)


def _base_links(state: TopologyState, spec: TopologySpec) -> None:
    """The path's own rate/delay, on each end host's egress (the censor's queues stay the profile's)."""
    from testbed.compile.plan import NetemParams
    from testbed.kernel import netem, probe

    assert spec.link is not None
    netem.install()
    if spec.link.delay:
        probe.require(("sch_netem",))
    for node in state.nodes.values():
        if node.side == "censor":
            continue
        with netns.route(node.netns) as ipr:
            index = ipr.link_lookup(ifname="eth0")[0]
            if spec.link.delay:
                params = NetemParams(delay_ns=spec.link.delay, rate_bps=spec.link.rate or 0, limit=10000)
                ipr.tc("replace", "netem", index, ROOT_HANDLE, root=True, netem_params=params)
            else:
                # a burst of several frames and 100 ms of queue: a tighter tbf on the
                # sender's own interface starves TCP (small queues) by about 6 %
                rate = (spec.link.rate or 0) // 8
                ipr.tc("replace", "tbf", index, ROOT_HANDLE, root=True, rate=rate,
                       burst=max(10_000, rate // 100), latency=100_000)


NAT_RANGE = ipaddress.IPv4Network("100.64.0.0/16")  # shared address space (RFC 6598): /30 a run


def _free_nat_network(run_id: str) -> ipaddress.IPv4Network:
    """A /30 no address of this machine's namespace is in; where to start looking comes from
    the run id, so two runs coming up at once rarely try the same one."""
    with netns.route(None) as ipr:
        used = [ipaddress.ip_interface(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}").network
                for a in ipr.get_addr(family=socket.AF_INET)]
    blocks = list(NAT_RANGE.subnets(new_prefix=30))
    start = zlib.crc32(run_id.encode()) % len(blocks)
    for k in range(len(blocks)):
        block = blocks[(start + k) % len(blocks)]
        if not any(block.overlaps(u) for u in used):
            return block
    raise TopologyError(f"no free /30 left in {NAT_RANGE} for the NAT link")


def _nat(state: TopologyState) -> None:
    """A veth from the censor (nat0) to this machine's namespace; the censor's default route
    through it and masquerading there, so replies find their way whatever the hosts' addresses
    (every run uses the same ones); and masquerading here too, for what goes on to the network
    (if this machine forwards: its own setting, left as it is)."""
    block = _free_nat_network(state.run_id)
    host_ip, censor_ip = list(block.hosts())
    state.nat = NatLink("nat0", f"{NS_PREFIX}{state.run_id}-nat", f"{censor_ip}/30", f"{host_ip}/30")
    with netns.route(None) as ipr:
        ipr.link("add", ifname=state.nat.host_interface, kind="veth",
                 peer={"ifname": state.nat.censor_interface, "net_ns_fd": state.censor.netns})
        index = ipr.link_lookup(ifname=state.nat.host_interface)[0]
        ipr.addr("add", index=index, address=str(host_ip), prefixlen=30)
        ipr.link("set", index=index, state="up")
    with netns.route(state.censor.netns) as ipr:
        index = ipr.link_lookup(ifname=state.nat.censor_interface)[0]
        ipr.addr("add", index=index, address=str(censor_ip), prefixlen=30)
        ipr.link("set", index=index, state="up")
        ipr.route("add", dst="0.0.0.0/0", gateway=str(host_ip))
    netns.inside(state.censor.netns, lambda: offloads.off([state.nat.censor_interface]))
    masquerade = ("table ip {table} {{\n\tchain post {{\n\t\ttype nat hook postrouting priority srcnat;\n"
                  "\t\t{rule}\n\t}}\n}}\n")
    netns.run(state.censor.netns, ["nft", "-f", "-"], stdin=masquerade.format(
        table="testbed_nat", rule=f'oifname "{state.nat.censor_interface}" masquerade'))
    netns.run(None, ["nft", "-f", "-"], stdin=masquerade.format(
        table=nat_table(state.run_id),
        rule=f'ip saddr {block} oifname != "{state.nat.host_interface}" masquerade'))


def up_to_stay(spec: TopologySpec, run_id: str, progress: Progress = lambda _: None) -> TopologyState:
    """A run kept up for people to work in (`testbed up`): held by this process while it is
    built, so a kill -9 half-way leaves a leftover `testbed clean` removes; then by nobody."""
    state = up(spec, run_id, progress, owner=os.getpid())
    state.owner = state.owner_started = None
    state.save()
    return state


def down(run_id: str, state: TopologyState | None = None) -> list[str]:
    """Remove a run's namespaces (ending their processes) and its state file."""
    if state is None and state_path(run_id).exists():
        state = TopologyState.load(run_id)
    names = [n.netns for n in state.nodes.values()] if state else []
    if netns.NETNS_DIR.exists():
        names += [p.name for p in netns.NETNS_DIR.glob(f"{NS_PREFIX}{run_id}-*")]
    removed = []
    for name in sorted(set(names)):
        if remove_netns(name):
            removed.append(name)
    if state is None or state.nat is not None:  # a run without NAT has none to remove
        remove_nat(run_id)
    state_path(run_id).unlink(missing_ok=True)
    return removed


def remove_nat(run_id: str) -> bool:
    """Remove a run's NAT link end and masquerading table from this machine's namespace (the
    link would follow the censor's namespace, but only once the kernel gets round to it);
    whether there was a table."""
    subprocess.run(["ip", "link", "del", f"{NS_PREFIX}{run_id}-nat"], capture_output=True)
    result = subprocess.run(["nft", "delete", "table", "ip", nat_table(run_id)], capture_output=True)
    return result.returncode == 0


def remove_netns(name: str) -> bool:
    """End every process in namespace `name` and delete it; whether it is gone."""
    if not netns.exists(name):
        return False
    for pid in netns.pids(name):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        pyroute2_netns.remove(name)  # as `ip netns del`: detached and unlinked
    readers.forget(name)
    return not netns.exists(name)


def running() -> list[str]:
    return sorted(p.stem for p in STATE_DIR.glob("*.json")) if STATE_DIR.exists() else []
