"""Bring a gateway up, put a profile on it, take it down; and undo a half-made one."""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from testbed.compile.compiler import compile_profile
from testbed.compile.plan import Plan
from testbed.compile.render import sysctls
from testbed.gateway import plumbing, safety
from testbed.gateway.model import GatewayState, current_netns, recorded, state_path
from testbed.kernel import apply as engine
from testbed.kernel import netns, probe
from testbed.kernel.process import alive, start_time
from testbed.profile.loader import LoadedProfile

Progress = Callable[[str], None]


class AlreadyUp(Exception):
    def __init__(self, state: GatewayState):
        self.state = state
        super().__init__(f"a gateway is already up here (inside {state.inside}, outside {state.outside}); "
                         "`testbed gateway down` first")


def _sysctl(ns: str | None, key: str) -> str | None:
    result = netns.run(ns, ["sysctl", "-n", key], check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def _gro(ns: str | None, device: str) -> str:
    """"on", "off", or "fixed" (the driver decides: nothing to change or put back)."""
    found = re.search(r"^generic-receive-offload: (\w+)( \[fixed\])?",
                      netns.run(ns, ["ethtool", "-k", device]).stdout, re.M)
    return "fixed" if found is None or found.group(2) else found.group(1)


def _has_clsact(ns: str | None, device: str) -> bool:
    listing = netns.run(ns, ["tc", "qdisc", "show", "dev", device]).stdout.splitlines()
    if any(line.startswith("qdisc ingress") for line in listing):  # it excludes clsact
        raise safety.Refused(f"{device} has an ingress qdisc, and the gateway needs a clsact one in its "
                             f"place; remove it first (tc qdisc del dev {device} ingress) if you can")
    return any(line.startswith("qdisc clsact") for line in listing)


def prepare(inside: str, outside: str | None, nat: bool, force: bool) -> GatewayState:
    """The record of a gateway on these interfaces (checked; nothing changed yet)."""
    ns = current_netns()
    outside = safety.check(ns, inside, outside, force)
    forwarding = _sysctl(ns, plumbing.FORWARDING) or "0"
    return GatewayState(inside, outside, ns, nat, {plumbing.FORWARDING: forwarding},
                        gro={d: _gro(ns, d) for d in (inside, outside)},
                        added_clsact=[d for d in (inside, outside) if not _has_clsact(ns, d)],
                        owner=os.getpid(), owner_started=start_time(os.getpid()))


def up(state: GatewayState, progress: Progress, loaded: LoadedProfile | None = None) -> None:
    """Make the gateway `state` describes (and put `loaded` on it); on any failure (or
    signal) undo all of it. Until the end the record names this process: killed with -9 on
    the way, the gateway is a leftover for `testbed clean`."""
    if not state.claim():
        raise AlreadyUp(load_here() or state)
    try:
        for command in plumbing.setup(state):
            progress(command.shell())
            netns.run(state.netns, command.argv, stdin=command.stdin)
        if loaded is not None:
            apply(state, loaded)
    except BaseException:
        down(state)
        raise
    state.owner, state.owner_started = None, None
    state.save()


def compile_for(state: GatewayState, loaded: LoadedProfile) -> Plan:
    return compile_profile(loaded, state.target())


def apply(state: GatewayState, loaded: LoadedProfile) -> engine.ApplyResult:
    """Put a profile on the gateway (replacing any there), read back and verified."""
    plan = compile_for(state, loaded)
    probe.require(plan.features)
    for key, _ in sysctls(plan):  # recorded before it changes, to be put back by `down`
        state.sysctls.setdefault(key, _sysctl(state.netns, key) or "0")
    state.save()
    result = engine.apply(plan, state.netns)
    state.profile = loaded.profile.name
    state.save()
    return result


def clear(state: GatewayState) -> None:
    engine.clear_devices(state.netns, [d for _, d in plumbing.redirects(state)], state.target().table)
    state.profile = None
    state.save()


def down(state: GatewayState) -> list[str]:
    """Undo the gateway (whatever part of it was made) and forget it; the commands run."""
    done = []
    gone = state.netns is not None and not netns.exists(state.netns)
    for command in [] if gone else plumbing.teardown(state):
        if netns.run(state.netns, command.argv, stdin=command.stdin, check=False).returncode == 0:
            done.append(command.shell())
    state_path(state.netns).unlink(missing_ok=True)
    return done


class Unreadable(Exception):
    pass


def load_here() -> GatewayState | None:
    """The gateway of this process's namespace, if one is up."""
    ns = current_netns()
    if not state_path(ns).exists():
        return None
    try:
        return GatewayState.load(ns)
    except (OSError, ValueError, TypeError) as exc:
        raise Unreadable(f"the gateway record {state_path(ns)} is unreadable ({exc}); `testbed clean` "
                         "removes it") from None


def leftovers(everything: bool, pid: int | None) -> list[GatewayState]:
    """Gateways `testbed clean` should undo: those whose `up` died half way (made by `pid`,
    when given), those whose namespace is gone, and with `everything` all of them. A
    gateway of this machine's own namespace only when clean runs there."""
    here = current_netns()
    out = []
    for ns in recorded():
        if ns is None and here is not None:
            continue
        try:
            state = GatewayState.load(ns)
        except (OSError, ValueError, TypeError):
            state_path(ns).unlink(missing_ok=True)
            continue
        vanished = ns is not None and not netns.exists(ns)
        dead = state.owner is not None and not alive(state.owner, state.owner_started)
        if pid is not None and state.owner != pid:
            continue
        if everything or vanished or dead:
            out.append(state)
    return out
