"""Which interfaces a gateway may take: they exist, they differ, and the inside one is not
how this machine reaches the internet or how someone reaches this machine over SSH."""

from __future__ import annotations

import ipaddress
import json
import os
import re
from pathlib import Path

from testbed.kernel import netns

TESTBED_PREFIXES = ("tbgw-", "tb-")  # a gateway's ifbs and the topologies' links
PROBE_ADDRESS = "1.1.1.1"  # any address beyond this machine: where would a packet to it leave?


class Refused(Exception):
    """The interfaces are not fit for a gateway: the message says why and what to do."""


def interfaces(ns: str | None) -> list[str]:
    listing = json.loads(netns.run(ns, ["ip", "-j", "link", "show"]).stdout or "[]")
    return [link["ifname"] for link in listing]


def default_route_interfaces(ns: str | None) -> set[str]:
    found: set[str] = set()
    for family in ("-4", "-6"):
        routes = json.loads(netns.run(ns, ["ip", "-j", family, "route", "show", "default"]).stdout or "[]")
        found |= {r["dev"] for r in routes if "dev" in r}
        found |= {hop["dev"] for r in routes for hop in r.get("nexthops", []) if "dev" in hop}
    return found


def _ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _client(ssh_connection: str) -> str | None:
    """SSH_CONNECTION is "client-address client-port server-address server-port"."""
    parts = ssh_connection.split()
    return _ip(parts[0]) if len(parts) == 4 else None


def _ancestors_ssh_clients(pid: int | None = None) -> set[str]:
    """SSH_CONNECTION's client in the environment of this process or any ancestor: sudo
    drops it from its child's environment, the login shell above it still holds it."""
    found: set[str] = set()
    pid = pid or os.getpid()
    for _ in range(64):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        for entry in environ:
            if entry.startswith(b"SSH_CONNECTION="):
                client = _client(entry.split(b"=", 1)[1].decode(errors="replace"))
                found |= {client} if client else set()
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent <= 1:
            break
        pid = parent
    return found


def ssh_interfaces(ns: str | None, ssh_connection: str | None = None) -> dict[str, str]:
    """interface -> the SSH client it carries packets to: this session's (from the environment
    of this process or its ancestors) and every established connection to port 22 here."""
    clients: set[str] = set()
    if ssh_connection is None:
        clients = _ancestors_ssh_clients()
    elif _client(ssh_connection):
        clients = {_client(ssh_connection) or ""}
    listing = netns.run(ns, ["ss", "-Htn", "state", "established", "( sport = :22 )"], check=False).stdout
    for line in listing.splitlines():
        peer = line.split()[-1] if line.split() else ""
        address = _ip(peer.rsplit(":", 1)[0].strip("[]").removeprefix("::ffff:"))
        if address:
            clients.add(address)
    out = {}
    for client in sorted(clients):
        result = netns.run(ns, ["ip", "-j", "route", "get", client], check=False)
        routes = json.loads(result.stdout or "[]") if result.returncode == 0 else []
        if routes and routes[0].get("dev"):
            out[routes[0]["dev"]] = client
    return out


def route_out(ns: str | None, inside: str) -> str | None:
    """The interface a packet to the internet leaves by, policy routing included (wg-quick,
    a VPN, a Tailscale exit node send it elsewhere than the main table's default route)."""
    result = netns.run(ns, ["ip", "-j", "-4", "route", "get", PROBE_ADDRESS], check=False)
    routes = json.loads(result.stdout or "[]") if result.returncode == 0 else []
    found = routes[0].get("dev") if routes else None
    return found if found and found != inside else None


def check(ns: str | None, inside: str, outside: str | None, force: bool) -> str:
    """The outside interface (given, or where this machine's packets to the internet leave),
    or Refused unless a gateway may take `inside` and it."""
    present = interfaces(ns)

    def usable(option: str, name: str) -> None:
        if name not in present:
            raise Refused(f"{option} {name}: no such interface here (there are: {', '.join(present)})")
        if name == "lo" or name.startswith(TESTBED_PREFIXES):
            raise Refused(f"{option} {name}: the loopback and the testbed's own interfaces cannot be a "
                          "gateway's")

    usable("--inside", inside)
    if not force and inside in default_route_interfaces(ns):
        raise Refused(f"--inside {inside} carries this machine's default route: the devices behind it "
                      "would be this machine's uplink. Give the interface the devices are on (a "
                      "hotspot, a USB network adapter), or --force if you mean it")
    client = ssh_interfaces(ns).get(inside) if not force else None
    if client:
        raise Refused(f"--inside {inside} carries an SSH session (from {client}): a gateway there makes this "
                      "machine a masquerading router for that network and turns off its receive offload, "
                      "and a mistake in it would cut that session off. Give another interface, or --force "
                      "if you mean it")
    outside = outside or route_out(ns, inside)
    if outside is None:
        raise Refused("this machine has no route to the internet besides the inside interface, so there is "
                      "no outside to forward to: give --outside IF")
    usable("--outside", outside)
    if inside == outside:
        raise Refused(f"--inside and --outside are both {inside}: a gateway forwards between two "
                      "interfaces (the devices' and the uplink)")
    return outside


def mark_users(ns: str | None, mark: int) -> list[str]:
    """Routing rules and nft rules here that use the gateway's mark bit (a VPN's fwmark, say):
    this machine's own packets that carry it would meet the profile."""
    found = []
    rules = netns.run(ns, ["ip", "rule", "show"], check=False).stdout
    nft = netns.run(ns, ["nft", "list", "ruleset"], check=False).stdout
    for source, text in (("ip rule", rules), ("nft", nft)):
        for line in text.splitlines():
            values = re.findall(r"(?:fwmark|mark set|mark)\s+(0x[0-9a-f]+|\d+)", line)
            if any(int(v, 0) & mark for v in values):
                found.append(f"{source}: {line.strip()}")
    return found
