"""Bring a gateway up, put a profile on it, take it down; and undo a half-made one."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable

from testbed.compile.compiler import compile_profile
from testbed.compile.plan import Plan
from testbed.compile.render import sysctls
from testbed.errors import ProgramMissing
from testbed.gateway import plumbing, safety
from testbed.gateway.model import (
    MARK,
    SET_VALUE,
    GatewayState,
    UnnamedNamespace,
    current_netns,
    recorded,
    state_path,
    stray_files,
)
from testbed.kernel import apply as engine
from testbed.kernel import netns, probe, readers
from testbed.kernel.process import alive, owned_by, start_time
from testbed.profile.loader import LoadedProfile

Progress = Callable[[str], None]
PROGRAMS = {"ip": "iproute2", "tc": "iproute2", "nft": "nftables", "ethtool": "ethtool", "ss": "iproute2",
            "sysctl": "procps"}


class AlreadyUp(Exception):
    def __init__(self, state: GatewayState):
        self.state = state
        super().__init__(f"a gateway is already up here (inside {state.inside}, outside {state.outside}); "
                         "`testbed gateway down` first")


class Unreadable(Exception):
    pass


class Busy(Exception):
    """The gateway's `up` is still running, or died half way (`running` says which)."""

    def __init__(self, message: str, running: bool):
        self.running = running
        super().__init__(message)


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


def _here() -> str | None:
    try:
        return current_netns()
    except UnnamedNamespace as exc:
        raise safety.Refused(str(exc)) from None


def prepare(inside: str, outside: str | None, nat: bool, force: bool) -> tuple[GatewayState, list[str]]:
    """The record of a gateway on these interfaces (checked; nothing changed yet), and
    warnings for the person starting it."""
    for program, package in PROGRAMS.items():
        if shutil.which(program) is None:
            raise ProgramMissing(program, package)
    ns = _here()
    outside = safety.check(ns, inside, outside, force)
    forwarding = _sysctl(ns, plumbing.FORWARDING) or "0"
    state = GatewayState(inside, outside, ns, nat, {plumbing.FORWARDING: forwarding},
                         gro={d: _gro(ns, d) for d in (inside, outside)},
                         added_clsact=[d for d in (inside, outside) if not _has_clsact(ns, d)],
                         owner=os.getpid(), owner_started=start_time(os.getpid()))
    warnings = [f"this machine's own packets that carry mark bit {MARK:#x} would meet the profile: {use}"
                for use in safety.mark_users(ns, MARK)]
    way_out = safety.route_out(ns, inside)
    if way_out not in (None, outside):
        warnings.append(f"packets to the internet leave by {way_out} (policy routing: a VPN?), not by "
                        f"--outside {outside}: the devices' traffic may bypass the gateway's NAT and profile")
    for device in (inside, outside):
        if netns.run(ns, ["tc", "filter", "show", "dev", device, "egress"], check=False).stdout.strip():
            warnings.append(f"{device} has egress filters of its own; one that ends classification before "
                            "the gateway's (pref 49213) keeps packets from the profile's htb tree")
    return state, warnings


def up(state: GatewayState, progress: Progress, loaded: LoadedProfile | None = None) -> None:
    """Make the gateway `state` describes (and put `loaded` on it), forwarding last; on any
    failure (or signal) undo all of it. Until the end the record names this process: killed
    with -9 on the way, the gateway is a leftover for `testbed clean`."""
    if not state.claim():
        raise AlreadyUp(load_here() or state)
    try:
        for command in plumbing.setup(state):
            progress(command.shell())
            netns.run(state.netns, command.argv, stdin=command.stdin)
        if loaded is not None:
            progress(f"# profile {loaded.profile.name} (testbed gateway up --dry-run shows its commands)")
            apply(state, loaded)
        command = plumbing.forwarding_on()
        progress(command.shell())
        netns.run(state.netns, command.argv)
        state.owner, state.owner_started = None, None
        state.save()
    except BaseException:
        down(state)
        raise


def compile_for(state: GatewayState, loaded: LoadedProfile) -> Plan:
    return compile_profile(loaded, state.target())


def usable(state: GatewayState) -> GatewayState:
    """`state`, unless its `up` is still running or died half way (Busy)."""
    if state.owner is None or state.owner == os.getpid():
        return state
    if alive(state.owner, state.owner_started):
        raise Busy(f"the gateway is still coming up (pid {state.owner}); wait for it", running=True)
    raise Busy(f"the gateway's `up` (pid {state.owner}) died half way; `testbed gateway down` or "
               "`testbed clean` undoes it", running=False)


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


def down(state: GatewayState) -> tuple[list[str], list[str]]:
    """Undo the gateway (whatever part of it was made) and forget it: the commands that
    changed something, and notes on what was left as it is. Forwarding goes off first."""
    done, notes = [], []
    if state.netns is not None and not netns.exists(state.netns):
        state_path(state.netns).unlink(missing_ok=True)
        return done, [f"namespace {state.netns} is gone, and its gateway with it"]
    for key, before in state.sysctls.items():
        now = _sysctl(state.netns, key)
        if now == before:
            continue
        if now != SET_VALUE:  # someone else changed it since: theirs now
            notes.append(f"{key} is {now}, set by something else since the gateway set it to "
                         f"{SET_VALUE}: left as it is")
            continue
        command = plumbing.Command(("sysctl", "-qw", f"{key}={before}"))
        netns.run(state.netns, command.argv, check=False)
        done.append(command.shell())
    if readers.discard(state.netns, state.target().table):
        done.append(f"# the reader of table {state.target().table} ended, its iptables chain removed")
    for command in plumbing.teardown(state):
        if netns.run(state.netns, command.argv, stdin=command.stdin, check=False).returncode == 0:
            done.append(command.shell())
    state_path(state.netns).unlink(missing_ok=True)
    return done, notes


def load_here() -> GatewayState | None:
    """The gateway of this process's namespace, if one is up."""
    ns = _here()
    if not state_path(ns).exists():
        return None
    try:
        return GatewayState.load(ns)
    except (OSError, ValueError, TypeError) as exc:
        raise Unreadable(f"the gateway record {state_path(ns)} is unreadable ({exc}); `testbed clean` "
                         "takes down what it can of that gateway") from None


def leftovers(everything: bool, pid: int | None, pid_started: int | None = None) -> list[GatewayState]:
    """Gateways `testbed clean` should undo: those whose `up` died half way (made by `pid`,
    started at `pid_started`, when given), those whose namespace is gone, and with
    `everything` all of them. A gateway of this machine's own namespace only when clean runs
    there."""
    here = _here_or_elsewhere()
    out = []
    for ns in recorded():
        if ns is None and here != "host":
            continue
        try:
            state = GatewayState.load(ns)
        except (OSError, ValueError, TypeError):
            continue  # clean() takes down what it can of it
        vanished = ns is not None and not netns.exists(ns)
        dead = state.owner is not None and not alive(state.owner, state.owner_started)
        if pid is not None and not owned_by(state.owner, state.owner_started, pid, pid_started):
            continue
        if everything or vanished or dead:
            out.append(state)
    return out


def _here_or_elsewhere() -> str:
    """"host", a namespace's name, or "" in an unnamed namespace."""
    try:
        return current_netns() or "host"
    except UnnamedNamespace:
        return ""


def clean(everything: bool, pid: int | None, pid_started: int | None = None) -> list[str]:
    """What `testbed clean` does with gateways: undo the leftovers (and with `everything`
    all), take down what can be taken down of a gateway with an unreadable record, and
    remove temporary files of processes that are gone; what it did, in words."""
    removed = []
    for gw in leftovers(everything, pid, pid_started):
        down(gw)
        removed.append(f"the gateway {gw.inside} -> {gw.outside}{f' in {gw.netns}' if gw.netns else ''} "
                       "(interfaces, NAT and sysctls put back)")
    here = _here_or_elsewhere()
    for ns in recorded() if pid is None else []:
        if (ns is None and here != "host") or (ns is not None and not netns.exists(ns)):
            if ns is not None:
                state_path(ns).unlink(missing_ok=True)
            continue
        try:
            GatewayState.load(ns)
            continue
        except (OSError, ValueError, TypeError):
            pass
        for command in plumbing.teardown_unrecorded(safety.interfaces(ns)):
            netns.run(ns, command.argv, check=False)
        state_path(ns).unlink(missing_ok=True)
        removed.append(f"the gateway of an unreadable record{f' in {ns}' if ns else ''} (its tables, "
                       "redirects and ifbs; offloads and sysctls could not be put back)")
    for path in stray_files(pid):
        path.unlink(missing_ok=True)
        removed.append(f"temporary file {path}")
    return removed
