"""Mininet as the host and link builder (hosts only: no switch, no controller, no OVS).

Mininet's hosts live in unnamed namespaces held by a shell it starts. We give each one
its run-scoped name with `ip netns attach`, so the namespace outlives this process and
the shared configuration, apply engine, `exec` and cleanup treat it like the netns backend.
"""

from __future__ import annotations

import shutil
import subprocess

from testbed.errors import ProgramMissing
from testbed.topology.model import TopologyState


def create_hosts_and_links(state: TopologyState) -> None:
    if shutil.which("mnexec") is None:
        raise ProgramMissing("mnexec", "mininet", "the Mininet backend")
    try:
        from mininet.log import setLogLevel
        from mininet.net import Mininet
        from mininet.node import Host
    except ImportError:  # pragma: no cover - a dependency of the package
        raise ProgramMissing("the mininet Python module", "mininet", "the Mininet backend") from None

    setLogLevel("warning")
    net = Mininet(topo=None, controller=None, build=False, autoSetMacs=False, waitConnected=False)
    hosts: dict[str, Host] = {}
    for name, node in state.nodes.items():
        # Mininet names root-namespace interfaces after hosts: keep them run-scoped
        hosts[name] = net.addHost(f"{node.netns}", inNamespace=True, ip=None)
    censor = state.censor
    for iface in censor.interfaces:
        peer = state.nodes[iface.peer_node]
        net.addLink(hosts["censor"], hosts[peer.name], intfName1=iface.name,
                    intfName2=iface.peer_interface)
    net.build()
    for name, node in state.nodes.items():
        pid = hosts[name].pid
        subprocess.run(["ip", "netns", "attach", node.netns, str(pid)], check=True,
                       capture_output=True)
