"""`testbed up`, `down`, `exec`, `status` and `clean`: runs kept up for people to work in."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from testbed.cli.common import (
    argv_of,
    bad,
    json_option,
    load_run,
    need_root,
    run_hint,
    run_option,
    where_option,
)
from testbed.cli.output import Output
from testbed.errors import InputError
from testbed.vm import dispatch


def _spec(backend: str, inside: str, outside: str, rate: str | None, delay: str | None, nat: bool = False):
    from pydantic import ValidationError

    from testbed.topology.model import TopologySpec

    link = {k: v for k, v in (("rate", rate), ("delay", delay)) if v}
    try:
        return TopologySpec(backend=backend, inside=inside.split(","), outside=outside.split(","),
                            link=link or None, nat=nat)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = {"inside": "--inside", "outside": "--outside", "link": "--rate/--delay"}.get(
            str(first["loc"][0]) if first["loc"] else "", "the topology")
        raise bad(f"{where}: {first['msg'].removeprefix('Value error, ')}") from None


@click.command(short_help="Build a topology that stays up.")
@run_option
@click.option("--backend", type=click.Choice(["netns", "mininet"]), default="netns", show_default=True,
              help="What builds the hosts and links.")
@click.option("--inside", default="caller", show_default=True, metavar="HOSTS",
              help="Hosts on the inside (the censored side), comma-separated.")
@click.option("--outside", default="callee", show_default=True, metavar="HOSTS",
              help="Hosts on the outside, comma-separated; name=ADDRESS/PREFIX gives one its own IPv4 "
                   "address (in a range a profile matches, say).")
@click.option("--rate", default=None, metavar="RATE", help="A base link rate on each host, e.g. 100mbit.")
@click.option("--delay", default=None, metavar="TIME", help="A base link delay on each host, e.g. 10ms.")
@click.option("--nat", is_flag=True, help="A route from the hosts to this machine and its network, "
                                          "through the censor (the profile holds) and NAT, IPv4: as "
                                          "Mininet's --nat.")
@where_option("local", "local: this kernel; vm: a testbed VM kept up for the run (apply, exec, clear, "
                       "status and down reach it there); auto: as local.")
@click.pass_context
def up(ctx: click.Context, run: str, backend: str, inside: str, outside: str, rate: str | None,
       delay: str | None, nat: bool, where: str) -> int | None:
    """Build a topology that stays up: inside hosts -- censor -- outside hosts."""
    from testbed.topology import build
    from testbed.topology.model import state_path

    spec = _spec(backend, inside, outside, rate, delay, nat)
    need_root()
    out = Output()
    if dispatch.run_in_vm(run) or state_path(run).exists():
        raise bad(f"run {run!r} is already up; `testbed down{run_hint(run)}` first")
    if where == "vm" and not dispatch.in_vm():
        code = dispatch.run_in_new_vm(run, argv_of(ctx), (), out.progress)
        if code == 0:
            out.note(f"run {run} is up in the testbed VM; apply, exec, clear, status and down reach it there")
        return code
    state = build.up_to_stay(spec, run, out.progress)
    out.table(["node", "namespace", "interfaces"],
              [[n.name, n.netns, ", ".join(f"{i.name} {i.ipv4} {i.ipv6}" for i in n.interfaces)]
               for n in state.nodes.values()])
    first = state.nodes[spec.outside[0].name].address()
    if state.nat is not None:
        out.line(f"NAT: the censor's {state.nat.censor_interface} {state.nat.censor_ipv4} to this machine's "
                 f"{state.nat.host_interface} {state.nat.host_ipv4}{_forwarding_note()}")
    out.line(f"run {run} is up ({spec.backend}); try: testbed exec{run_hint(run)} caller -- ping -c1 {first}")
    return None


def _forwarding_note() -> str:
    try:
        forwarding = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "1"
    except OSError:
        forwarding = False
    return "" if forwarding else (" (this machine does not forward: the hosts reach its own addresses only; "
                                  "`sysctl -w net.ipv4.ip_forward=1` lets them reach its network)")


@click.command(short_help="Tear a run down.")
@run_option
@click.pass_context
def down(ctx: click.Context, run: str) -> int | None:
    """Tear a run's topology down (its namespaces and everything in them; its VM, if it has one)."""
    from testbed.topology import build
    from testbed.vm.session import VMSession

    need_root()
    if dispatch.run_in_vm(run):
        code = dispatch.forward_to_run(run, argv_of(ctx))
        session = VMSession.find(run)
        if session is not None:
            session.stop()
        return code
    removed = build.down(run)
    Output().line(f"removed {len(removed)} namespaces of run {run}" if removed else f"run {run} was not up")
    return None


@click.command("exec", short_help="Run a program inside a node.",
               context_settings={"ignore_unknown_options": True})
@click.argument("node")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED, metavar="-- COMMAND...")
@run_option
@click.pass_context
def exec_(ctx: click.Context, node: str, command: tuple[str, ...], run: str) -> int | None:
    """Run a program inside NODE of a run (no shell is involved):

    \b
        testbed exec caller -- ping -c3 198.19.0.2
        testbed exec censor -- tc -s qdisc show dev out0
    """
    need_root()
    if dispatch.run_in_vm(run):
        return dispatch.forward_to_run(run, argv_of(ctx))
    state = load_run(run)
    if node not in state.nodes:
        raise bad(f"no node {node!r} in run {run}; its nodes: {', '.join(state.nodes)}")
    os.execvp("ip", ["ip", "netns", "exec", state.node(node).netns, *command])
    return None  # not reached: exec replaced this process


def _local_runs(counters: bool = False) -> list[dict]:
    from testbed.topology.build import running
    from testbed.topology.cleanup import leftover
    from testbed.topology.model import TopologyState

    rows = []
    for run in running():
        try:
            state = TopologyState.load(run)
        except (OSError, ValueError, KeyError):
            continue
        row = {"run": run, "where": "vm" if dispatch.in_vm() else "local", "backend": state.backend,
               "hosts": len(state.nodes) - 1, "profile": state.profile,
               "owner": state.owner, "leftover": leftover(run)}
        if counters:
            row["counters"] = _counters(state)
        rows.append(row)
    return rows


def _counters(state) -> list[dict] | None:
    """The run's class counts; None when its censor cannot be read (a leftover's namespace
    is gone)."""
    from testbed.compile.compiler import Target
    from testbed.errors import TestbedError
    from testbed.kernel import counters

    target = Target(state.devices("outside"), state.devices("inside"))
    try:  # whoever applied it (a session records no profile name in the state file): the table says
        return [c.as_dict() for c in counters.read(state.censor.netns, target)]
    except (OSError, TestbedError):
        return None


def _vm_runs(counters: bool = False) -> list[dict]:
    from testbed.vm.session import VMSession, sessions

    rows = []
    for run in sessions():
        session = VMSession.find(run)
        inside: list[dict] = []
        if session is not None and os.geteuid() == 0:
            code, text = session.capture(["python3", "-m", "testbed.cli", "status", "--json",
                                          *(["--counters"] if counters else [])])
            inside = json.loads(text) if code == 0 and text.strip() else []
        rows += [{**r, "where": "vm"} for r in inside if r["run"] == run] or [
            {"run": run, "where": "vm", "backend": "?", "hosts": None, "profile": None, "owner": None,
             "leftover": False}]
    return rows


@click.command(short_help="The runs that are up.")
@click.option("--counters", is_flag=True,
              help="Also what each class of the profile did, per direction: packets it took and dropped "
                   "(nft counters), sent, lost in its queue and queued now (tc -s), as tcshow shows.")
@json_option
def status(counters: bool, as_json: bool) -> None:
    """The runs that are up, where, and the profile applied on each."""
    if counters:
        need_root()  # reading another namespace's nft and tc needs root
    rows = _local_runs(counters) + ([] if dispatch.in_vm() else _vm_runs(counters))
    out = Output(as_json)
    if as_json:
        out.json(rows)
        return
    _gateway_note(out)
    if not dispatch.in_vm():
        from testbed.vm import warm

        vm = warm.find()
        if vm is not None:
            shared = ", ".join(str(p) for p in vm.shared)
            out.note(f"the warm testbed VM is up (pid {vm.pid}; shares {shared}): commands that go to the VM "
                     "run in it; `testbed vm down` stops it")
    if not rows:
        out.line("no runs are up (testbed up starts one)")
        return
    out.table(["run", "where", "backend", "hosts", "profile", "held by"],
              [[r["run"], r["where"], r["backend"], "?" if r["hosts"] is None else str(r["hosts"]),
                r["profile"] or "-", "testbed up" if r["owner"] is None else
                f"pid {r['owner']}{' (gone: a leftover)' if r['leftover'] else ''}"] for r in rows])
    for row in rows if counters else []:
        counters_table(out, row)


def _gateway_note(out: Output) -> None:
    """A gateway up on this machine is easy to forget: it forwards someone's phone."""
    from testbed.gateway.lifecycle import Unreadable, load_here
    from testbed.gateway.safety import Refused

    try:
        gateway = load_here()
    except (Unreadable, Refused, OSError):
        return
    if gateway is not None:
        out.note(f"a gateway is up here: {gateway.inside} -> {gateway.outside}, profile "
                 f"{gateway.profile or 'none'} (testbed gateway status; testbed gateway down undoes it)")


def counters_table(out: Output, row: dict) -> None:
    """One run's classes, as `status --counters` prints them."""
    counts = row.get("counters")
    if counts is None:
        out.line(f"{row['run']}: its censor could not be read (`testbed clean` removes a leftover)")
        return
    if not counts:
        out.line(f"{row['run']}: no profile applied, nothing counted")
        return
    out.table(["class", "dir", "took pkts", "took bytes", "dropped", "sent", "queue drops", "queued"],
              [[c["traffic_class"], "up" if c["direction"] == "uplink" else "down", str(c["packets"]),
                str(c["bytes"]), str(c["dropped"]), str(c["sent"]), str(c["queue_drops"]), str(c["backlog"])]
               for c in counts],
              title=f"{row['run']}: {row['profile'] or 'its profile'}, per class",
              caption="took: packets the class's nft rules matched; dropped: by its rules (drop, reject, "
                      "police, a residual block); sent, queue drops (netem loss, a full queue), queued: its "
                      "htb class")


@click.command(short_help="Remove leftovers of runs that ended badly.")
@click.option("--run", "-r", "run", default=None, metavar="ID", help="Remove this run, whoever holds it.")
@click.option("--all", "everything", is_flag=True,
              help="Remove every run on this machine, also those kept up and those of running commands.")
@click.option("--pid", "pid", type=click.IntRange(min=1), default=None, metavar="PID",
              help="Remove only the leftovers process PID made (its runs, namespaces and VMs), "
                   "for scripts and tests that share a machine.")
@click.option("--pid-started", "pid_started", type=click.IntRange(min=0), default=None, metavar="TICKS",
              help="With --pid: that process's start time (field 22 of /proc/PID/stat, read while it "
                   "ran), so that runs, VMs and gateways of an earlier process with the same pid stay.")
def clean(run: str | None, everything: bool, pid: int | None, pid_started: int | None) -> None:
    """Remove leftovers: runs whose process is gone (after kill -9 or a crash), namespaces of no
    run, orphaned VMs, a gateway whose `up` died half way, scratch directories of dead
    processes. Runs kept up by `testbed up`, a gateway that is up, and runs of live commands
    stay (--all removes them too)."""
    from testbed.topology.cleanup import clean as clean_topologies
    from testbed.vm import warm
    from testbed.vm.machine import stop_all
    from testbed.vm.session import VMSession, sessions

    if sum([run is not None, everything, pid is not None]) > 1:
        raise bad("--run removes one run, --all every run and --pid the leftovers of one process: "
                  "give one of them")
    if pid_started is not None and pid is None:
        raise bad("--pid-started names the start time of the process --pid gives: give --pid too")
    if run is not None:
        import re

        from testbed.topology.model import RUN_ID_PATTERN

        if not re.fullmatch(RUN_ID_PATTERN, run):
            raise InputError.single(f"--run {run!r}: a run id is 1-8 lower case letters or digits")
    need_root()
    removed = clean_topologies(everything, run, pid, pid_started)
    for name in [run] if run else []:
        session = VMSession.find(name)
        if session is not None:
            session.stop()
            removed.append(f"the VM of run {name}")
    if run is None:
        from testbed.gateway.lifecycle import clean as clean_gateways
        from testbed.kernel.scratch import remove_leftovers as remove_scratch

        removed += clean_gateways(everything, pid, pid_started)
        removed += remove_scratch(pid)
        # commands in VMs that stay up (the warm VM, runs' VMs) whose host process was killed
        for session in [warm.find(), *(VMSession.find(r) for r in sessions())]:
            if session is not None and not everything:
                removed += [f"the command of pid {owner} in {session.WHAT.format(name=session.run_id)}"
                            for owner in session.orphaned_commands(pid, pid_started)]
        killed = stop_all(everything, owner=pid, owner_started=pid_started)
        removed += [f"VM process {vm}" for vm in killed]
        sessions(None if pid is None else killed)  # forgets the records of run VMs that are gone
        warm.find()  # and the warm VM's, when it is gone
    out = Output()
    for item in removed:
        out.line(f"removed {item}")
    out.line(f"clean: {len(removed)} objects removed")


COMMANDS = [up, down, exec_, status, clean]
