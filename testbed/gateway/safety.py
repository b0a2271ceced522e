"""Which interfaces a gateway may take: they exist, they differ, and the inside one is not
how this machine reaches the internet or how the person at the keyboard reaches it."""

from __future__ import annotations

import ipaddress
import json
import os

from testbed.kernel import netns

TESTBED_PREFIXES = ("tbgw-", "tb-")  # a gateway's ifbs and the topologies' links


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


def ssh_interface(ns: str | None, ssh_connection: str | None = None) -> str | None:
    """The interface that carries this SSH session's packets back to its client, if any."""
    text = ssh_connection if ssh_connection is not None else os.environ.get("SSH_CONNECTION", "")
    parts = text.split()
    if len(parts) != 4:
        return None
    try:
        client = str(ipaddress.ip_address(parts[0]))
    except ValueError:
        return None
    result = netns.run(ns, ["ip", "-j", "route", "get", client], check=False)
    if result.returncode != 0:
        return None
    routes = json.loads(result.stdout or "[]")
    return routes[0].get("dev") if routes else None


def _default_outside(ns: str | None, inside: str) -> str:
    """With no --outside: the interface of this machine's (IPv4) default route."""
    routes = json.loads(netns.run(ns, ["ip", "-j", "-4", "route", "show", "default"]).stdout or "[]")
    devices = [r["dev"] for r in routes if r.get("dev") and r["dev"] != inside]
    if not devices:
        raise Refused("this machine has no IPv4 default route besides the inside interface, so there is "
                      "no outside to forward to: give --outside IF")
    return devices[0]


def check(ns: str | None, inside: str, outside: str | None, force: bool) -> str:
    """The outside interface (given, or the default route's), or Refused unless a gateway may
    take `inside` and it."""
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
                      "hotspot, a USB tether), or --force if you mean it")
    if not force and inside == ssh_interface(ns):
        raise Refused(f"--inside {inside} carries this SSH session; the profile would throttle it. "
                      "Give another interface, or --force if you mean it")
    outside = outside or _default_outside(ns, inside)
    usable("--outside", outside)
    if inside == outside:
        raise Refused(f"--inside and --outside are both {inside}: a gateway forwards between two "
                      "interfaces (the devices' and the uplink)")
    return outside
