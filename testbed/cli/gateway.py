"""`testbed gateway`: this machine as the censor for real devices (a phone on a hotspot or a
USB network adapter), with the same profiles, counters and commands as a topology's censor."""

from __future__ import annotations

import re

import click

from testbed.cli.common import bad, json_option, load_profile_arg, need_root
from testbed.cli.output import Output
from testbed.errors import NeedsRoot

IFNAME = r"[^\s/:\"'\\]{1,15}"  # what the kernel takes as a name (IFNAMSIZ - 1) and nft can quote


def _interface(option: str, value: str | None) -> None:
    if value is not None and not re.fullmatch(IFNAME, value):
        raise bad(f"{option} {value!r}: an interface name is 1-15 characters, without spaces, quotes, "
                  "'/' or ':'")


def _here_or_none():
    from testbed.gateway.lifecycle import Unreadable, load_here
    from testbed.gateway.safety import Refused

    try:
        return load_here()
    except (Unreadable, Refused) as exc:
        raise bad(str(exc)) from None


def _here(may_be_half_made: bool = False):
    """The gateway up here; with `may_be_half_made`, also one whose `up` died (for `down`)."""
    from testbed.gateway.lifecycle import Busy, usable

    state = _here_or_none()
    if state is None:
        raise bad("no gateway is up here; start one with `testbed gateway up --inside IF`")
    try:
        return usable(state)
    except Busy as exc:
        if may_be_half_made and not exc.running:
            return state
        raise bad(str(exc)) from None


def _root(what: str) -> None:
    try:
        need_root()
    except NeedsRoot:
        raise NeedsRoot(f"testbed gateway {what}", "it changes this machine's interfaces, nft and sysctls") \
            from None


@click.group(short_help="This machine as the censor for real devices.")
def gateway() -> None:
    """Make this machine the censor for devices on one of its interfaces: a phone on a Linux
    hotspot (wlan0) or on a USB network adapter. It forwards and masquerades their traffic to
    the uplink and applies a profile to it both ways; `down` puts everything back.

    \b
      sudo .venv/bin/testbed gateway up --inside wlan0 --profile ru-2025-calls-blocked
      sudo .venv/bin/testbed gateway status --counters
      sudo .venv/bin/testbed gateway down
    """


@gateway.command(short_help="Forward and censor the devices on an interface.")
@click.option("--inside", required=True, metavar="IF", help="The interface the devices are on.")
@click.option("--outside", default=None, metavar="IF",
              help="The uplink to forward them to.  [default: where this machine's packets to the "
                   "internet leave]")
@click.option("--profile", "profile", default=None, metavar="PROFILE", help="Apply this profile at once.")
@click.option("--no-nat", is_flag=True, help="Forward without masquerading (the uplink's router knows "
                                             "the route back to the devices).")
@click.option("--force", is_flag=True, help="Take an inside interface that carries the default route or "
                                            "an SSH session.")
@click.option("--dry-run", is_flag=True, help="Print the commands it would run; change nothing.")
def up(inside: str, outside: str | None, profile: str | None, no_nat: bool, force: bool,
       dry_run: bool) -> None:
    """Make this machine the devices' gateway: ifbs, redirects, NAT, the profile, forwarding."""
    from testbed.compile.render import shell_script
    from testbed.gateway import lifecycle, plumbing
    from testbed.gateway.safety import Refused
    from testbed.kernel import probe

    _interface("--inside", inside)
    _interface("--outside", outside)
    loaded = load_profile_arg(profile) if profile else None
    existing = _here_or_none()
    if existing is not None:
        raise bad(str(lifecycle.AlreadyUp(existing)))
    try:  # reading interfaces, routes and qdiscs needs no root: bad input is exit 2 for anyone
        state, warnings = lifecycle.prepare(inside, outside, not no_nat, force)
    except Refused as exc:
        raise bad(str(exc)) from None
    plan = lifecycle.compile_for(state, loaded) if loaded else None
    out = Output()
    for warning in warnings:
        out.note(f"warning: {warning}")
    if dry_run:
        for command in plumbing.setup(state):
            out.line(command.shell())
        if plan is not None:
            out.line(shell_script(plan, where="this machine, after the commands above").rstrip("\n"))
        out.line(plumbing.forwarding_on().shell())
        return
    _root("up")
    if plan is not None:
        probe.require(plan.features)  # before anything changes
    try:
        lifecycle.up(state, out.progress, loaded)
    except (lifecycle.AlreadyUp, lifecycle.Unreadable) as exc:
        raise bad(str(exc)) from None
    out.line(f"gateway up: {inside} (devices) -> {state.outside} (uplink)"
             f"{', masqueraded' if state.nat else ''}; profile: {state.profile or 'none (forwarding only)'}")
    out.note("`testbed gateway status --counters` shows what each class took; `testbed gateway down` "
             "puts this machine back as it was")


@gateway.command(short_help="Put a profile on the gateway.")
@click.argument("profile")
def apply(profile: str) -> None:
    """Apply PROFILE to the devices' traffic, replacing any profile there."""
    from testbed.gateway import lifecycle

    loaded = load_profile_arg(profile)
    state = _here()
    _root("apply")
    result = lifecycle.apply(state, loaded)
    verb = "applied" if result.changed else "already applied"
    Output().line(f"{verb}: {loaded.profile.name} on the gateway {state.inside} -> {state.outside} "
                  "(read back and verified)")


@gateway.command(short_help="Take the profile off the gateway.")
def clear() -> None:
    """Remove the profile: the devices' traffic is forwarded untouched."""
    from testbed.gateway import lifecycle

    state = _here()
    _root("clear")
    lifecycle.clear(state)
    Output().line(f"cleared the gateway {state.inside} -> {state.outside}")


def _redirected(state) -> dict[str, int | None]:
    """Packets each ifb has sent: what the redirects took (0 with a profile and traffic: an
    egress filter of someone else's ends classification first)."""
    from testbed.gateway.plumbing import redirects
    from testbed.kernel import netns

    out: dict[str, int | None] = {}
    for _, ifb in redirects(state):
        text = netns.run(state.netns, ["cat", f"/sys/class/net/{ifb}/statistics/tx_packets"], check=False)
        out[ifb] = int(text.stdout) if text.returncode == 0 and text.stdout.strip().isdigit() else None
    return out


@gateway.command(short_help="The gateway, its profile and its counters.")
@click.option("--counters", is_flag=True, help="Also what each class took and dropped, per direction (root).")
@json_option
def status(counters: bool, as_json: bool) -> None:
    """The gateway of this machine: its interfaces, its profile and (--counters) what each class did."""
    from dataclasses import asdict

    from testbed.cli.topology import counters_table
    from testbed.kernel import counters as kernel_counters
    from testbed.kernel.process import alive

    if counters:
        _root("status --counters")
    state = _here_or_none()
    out = Output(as_json)
    if state is None:
        if as_json:
            out.json(None)
        else:
            out.line("no gateway is up here (testbed gateway up --inside IF starts one)")
        return
    leftover = state.owner is not None and not alive(state.owner, state.owner_started)
    row = asdict(state) | {"leftover": leftover, "redirected": _redirected(state)}
    if counters:
        row["counters"] = [c.as_dict() for c in kernel_counters.read(state.netns, state.target())]
    if as_json:
        out.json(row)
        return
    held = ("`testbed gateway up` has finished" if state.owner is None else
            f"pid {state.owner}{' (gone: `testbed clean` undoes it)' if row['leftover'] else ' (coming up)'}")
    redirected = ", ".join(f"{ifb} {'?' if n is None else n}" for ifb, n in row["redirected"].items())
    out.table(["inside", "outside", "nat", "profile", "redirected pkts", "state"],
              [[state.inside, state.outside, "yes" if state.nat else "no", state.profile or "-", redirected,
                held]])
    if counters:
        counters_table(out, {"run": "gateway", **row})


@gateway.command(short_help="Undo the gateway: this machine as it was.")
def down() -> None:
    """Turn forwarding back, remove the profile, redirects, ifbs and NAT, and put back the
    offloads and sysctls (also of a gateway whose `up` died half way)."""
    from testbed.gateway import lifecycle

    state = _here(may_be_half_made=True)
    _root("down")
    done, notes = lifecycle.down(state)
    out = Output()
    for command in done:
        out.progress(command)
    for note in notes:
        out.note(f"note: {note}")
    out.line(f"gateway down: {state.inside} and {state.outside} are as they were before it")


COMMANDS = [gateway]
