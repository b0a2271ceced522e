"""`testbed gateway`: this machine as the censor for real devices (a phone on a hotspot or a
USB tether), with the same profiles, counters and commands as a topology's censor."""

from __future__ import annotations

import re

import click

from testbed.cli.common import bad, json_option, load_profile_arg, need_root
from testbed.cli.output import Output

IFNAME = r"[^\s/:]{1,15}"  # what the kernel accepts as an interface name (IFNAMSIZ - 1)


def _interface(option: str, value: str | None) -> None:
    if value is not None and not re.fullmatch(IFNAME, value):
        raise bad(f"{option} {value!r}: an interface name is 1-15 characters, without spaces, '/' or ':'")


def _here_or_none():
    from testbed.gateway.lifecycle import Unreadable, load_here

    try:
        return load_here()
    except Unreadable as exc:
        raise bad(str(exc)) from None


def _here():
    state = _here_or_none()
    if state is None:
        raise bad("no gateway is up here; start one with `testbed gateway up --inside IF`")
    return state


@click.group(short_help="This machine as the censor for real devices.")
def gateway() -> None:
    """Make this machine the censor for devices on one of its interfaces: a phone on a Linux
    hotspot (wlan0) or a USB tether (usb0). It forwards and masquerades their traffic to the
    outside interface and applies a profile to it both ways; `down` puts everything back.

    \b
      sudo .venv/bin/testbed gateway up --inside wlan0 --profile ru-2025-calls-degraded
      sudo .venv/bin/testbed gateway status --counters
      sudo .venv/bin/testbed gateway down
    """


@gateway.command(short_help="Forward and censor the devices on an interface.")
@click.option("--inside", required=True, metavar="IF", help="The interface the devices are on.")
@click.option("--outside", default=None, metavar="IF",
              help="The uplink to forward them to.  [default: the interface of the default route]")
@click.option("--profile", "profile", default=None, metavar="PROFILE", help="Apply this profile at once.")
@click.option("--no-nat", is_flag=True, help="Forward without masquerading (the uplink's router knows "
                                             "the route back to the devices).")
@click.option("--force", is_flag=True, help="Take an inside interface that carries the default route or "
                                            "this SSH session (its traffic is then censored too).")
@click.option("--dry-run", is_flag=True, help="Print the commands it would run; change nothing.")
def up(inside: str, outside: str | None, profile: str | None, no_nat: bool, force: bool,
       dry_run: bool) -> None:
    """Make this machine the devices' gateway: ifbs, redirects, NAT, forwarding (and a profile)."""
    from testbed.compile.render import shell_script
    from testbed.gateway import lifecycle, plumbing
    from testbed.gateway.safety import Refused
    from testbed.kernel import probe

    _interface("--inside", inside)
    _interface("--outside", outside)
    loaded = load_profile_arg(profile) if profile else None
    if not dry_run:
        need_root()
    try:
        state = lifecycle.prepare(inside, outside, not no_nat, force)
    except Refused as exc:
        raise bad(str(exc)) from None
    plan = lifecycle.compile_for(state, loaded) if loaded else None
    out = Output()
    if dry_run:
        for command in plumbing.setup(state):
            out.line(command.shell())
        if plan is not None:
            out.line(shell_script(plan, where="this machine, after the commands above").rstrip("\n"))
        return
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
    need_root()
    state = _here()
    result = lifecycle.apply(state, loaded)
    verb = "applied" if result.changed else "already applied"
    Output().line(f"{verb}: {loaded.profile.name} on the gateway {state.inside} -> {state.outside} "
                  "(read back and verified)")


@gateway.command(short_help="Take the profile off the gateway.")
def clear() -> None:
    """Remove the profile: the devices' traffic is forwarded untouched."""
    from testbed.gateway import lifecycle

    need_root()
    state = _here()
    lifecycle.clear(state)
    Output().line(f"cleared the gateway {state.inside} -> {state.outside}")


@gateway.command(short_help="The gateway, its profile and its counters.")
@click.option("--counters", is_flag=True, help="Also what each class took and dropped, per direction.")
@json_option
def status(counters: bool, as_json: bool) -> None:
    """The gateway of this machine: its interfaces, its profile and (--counters) what each class did."""
    from dataclasses import asdict

    from testbed.cli.topology import counters_table
    from testbed.kernel import counters as kernel_counters
    from testbed.kernel.process import alive

    need_root()
    state = _here_or_none()
    out = Output(as_json)
    if state is None:
        if as_json:
            out.json(None)
        else:
            out.line("no gateway is up here (testbed gateway up --inside IF starts one)")
        return
    leftover = state.owner is not None and not alive(state.owner, state.owner_started)
    row = asdict(state) | {"leftover": leftover}
    if counters:
        row["counters"] = [c.as_dict() for c in kernel_counters.read(state.netns, state.target())]
    if as_json:
        out.json(row)
        return
    held = ("`testbed gateway up` has finished" if state.owner is None else
            f"pid {state.owner}{' (gone: `testbed clean` undoes it)' if row['leftover'] else ' (coming up)'}")
    out.table(["inside", "outside", "nat", "profile", "state"],
              [[state.inside, state.outside, "yes" if state.nat else "no", state.profile or "-", held]])
    if counters:
        counters_table(out, {"run": "gateway", **row})


@gateway.command(short_help="Undo the gateway: this machine as it was.")
def down() -> None:
    """Remove the profile, redirects, ifbs and NAT, and put back the offloads and sysctls."""
    from testbed.gateway import lifecycle

    need_root()
    state = _here()
    done = lifecycle.down(state)
    out = Output()
    for command in done:
        out.progress(command)
    out.line(f"gateway down: {state.inside} and {state.outside} are as they were")


COMMANDS = [gateway]
