"""`testbed plan`, `apply` and `clear`: a profile's commands, and putting it on a run's censor."""

from __future__ import annotations

import re

import click

from testbed.cli.common import (
    RunId,
    argv_of,
    bad,
    features_of,
    load_profile_arg,
    load_run,
    need_root,
    run_hint,
    run_option,
    where_option,
)
from testbed.cli.output import Output
from testbed.vm import dispatch

NETNS_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"  # safe to paste into a shell as it is


@click.command(short_help="The tc and nft commands of a profile.")
@click.argument("profile")
@click.option("--json", "as_json", is_flag=True, help="Print the Plan (kernel objects) as JSON.")
@click.option("--run", "-r", "run", type=RunId(), default=None,
              help="Name a run's censor: its namespace and its real interfaces.")
@click.option("--netns", default=None, metavar="NS", help="Prefix each command with `ip netns exec NS`.")
def plan(profile: str, as_json: bool, run: str | None, netns: str | None) -> None:
    """Print the tc and nft commands that implement PROFILE (no root needed, nothing changes).

    Without --run they name the censor's interfaces of the default topology (out0, in0)."""
    from testbed.compile.compiler import Target, compile_profile
    from testbed.compile.render import shell_script

    if netns is not None and not re.fullmatch(NETNS_PATTERN, netns):
        raise bad(f"--netns {netns!r}: a namespace name is letters, digits, '.', '_' and '-'")
    if run is not None and netns is not None:
        raise bad("--run already names the censor's namespace: give --run or --netns")
    loaded = load_profile_arg(profile)
    target = None
    if run is not None:
        state = load_run(run)
        target = Target(state.devices("outside"), state.devices("inside"))
        netns = state.censor.netns
    compiled = compile_profile(loaded, target)
    if as_json:
        click.echo(compiled.to_json())
    else:
        click.echo(shell_script(compiled, netns), nl=False)


@click.command(short_help="Put a profile on a run's censor.")
@click.argument("profile")
@run_option
@where_option()
@click.pass_context
def apply(ctx: click.Context, profile: str, run: str, where: str) -> int | None:
    """Apply PROFILE on a run's censor (bringing the run up if it is not), replacing any profile
    there. With --where auto, a profile this kernel cannot apply goes to a run in the testbed VM."""
    from testbed.kernel import apply as engine
    from testbed.topology import build
    from testbed.topology.model import TopologySpec, state_path

    loaded = load_profile_arg(profile)
    need_root()
    out = Output()
    if dispatch.run_in_vm(run):
        return dispatch.forward_to_run(run, argv_of(ctx), loaded.files)
    chosen = dispatch.choose(where, lambda: features_of(loaded), out.progress)
    if not state_path(run).exists():
        if chosen == "vm":
            return dispatch.run_in_new_vm(run, argv_of(ctx), loaded.files, out.progress)
        build.up_to_stay(TopologySpec(), run, out.progress)
    elif chosen == "vm":
        raise bad(f"run {run} is up on this host, whose kernel cannot apply {loaded.profile.name}; "
                  f"`testbed down{run_hint(run)}` and apply again (the run then comes up in the testbed VM)")
    from testbed.compile.compiler import Target, compile_profile

    state = load_run(run)
    compiled = compile_profile(loaded, Target(state.devices("outside"), state.devices("inside")))
    result = engine.apply(compiled, state.censor.netns)
    state.profile = loaded.profile.name
    state.save()
    verb = "applied" if result.changed else "already applied"
    out.line(f"{verb}: {compiled.profile} on run {run} ({len(compiled.interfaces)} interfaces, "
             f"{sum(len(c.rules) for c in compiled.nft.chains)} nft rules; read back and verified)")
    return None


@click.command(short_help="Take the profile off a run's censor.")
@run_option
@click.pass_context
def clear(ctx: click.Context, run: str) -> int | None:
    """Remove the applied profile: the censor's interfaces return to their defaults."""
    from testbed.kernel import apply as engine

    need_root()
    if dispatch.run_in_vm(run):
        return dispatch.forward_to_run(run, argv_of(ctx))
    state = load_run(run)
    devices = [*state.devices("outside"), *state.devices("inside")]
    from testbed.compile.compiler import Target

    engine.clear_devices(state.censor.netns, devices, Target().table)
    state.profile = None
    state.save()
    Output().line(f"cleared run {run}")
    return None


COMMANDS = [plan, apply, clear]
