"""`testbed try`, `calls`, `matrix` and `run`: experiments on fresh topologies of their own.

Each checks its inputs, then decides where it runs (testbed/vm/dispatch.py): on this
kernel, or, with its argv unchanged, in the testbed VM.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from testbed.cli.common import (
    Seconds,
    argv_of,
    bad,
    features_of,
    json_option,
    load_profile_arg,
    need_root,
    results_option,
    where_option,
)
from testbed.cli.output import Output, number
from testbed.cli.scenario_run import execute
from testbed.errors import WorkloadFailed
from testbed.measure.emodel import CODECS
from testbed.vm import dispatch

PORT = click.IntRange(1, 65535)


def _framing(stun: bool, reflector: bool) -> str:
    if stun and reflector:
        raise bad("--stun and --reflector: choose one framing")
    return "stun" if stun else "reflector" if reflector else "rtp"


def framing_options(function):
    reflector = "Frame media as Telegram's reflectors (peer tag, 12 bytes of 0xFF)."
    function = click.option("--reflector", is_flag=True, help=reflector)(function)
    return click.option("--stun", is_flag=True,
                        help="Frame media in STUN (cookie 0x2112A442), as WhatsApp's relays.")(function)


WEBRTC_ONLY = [
    click.Option(["--ice"], type=click.Choice(["none", "stun", "turn-udp", "turn-tcp", "turn-tls"]),
                 default="none", show_default=True,
                 help="WebRTC: candidates besides the hosts' own: none, a STUN server, or a TURN relay "
                      "reached over UDP or TCP 3478, or TLS on TCP 443 (coturn, on a host abroad)."),
    click.Option(["--relay-only"], is_flag=True, help="WebRTC: ICE transport policy relay (TURN only)."),
    click.Option(["--connect-timeout"], type=Seconds(600), default=None,
                 help="WebRTC: a call not connected by then is counted as failed (default 10)."),
    click.Option(["--redials"], type=click.IntRange(0, 10), default=0, show_default=True,
                 help="WebRTC: times a call not up by --connect-timeout is dialled again."),
    click.Option(["--speech"], multiple=True, metavar="VOICE|WAV",
                 help="WebRTC: what the calls say, in turn (repeat the option): en-f, en-m, ru-f, ru-m or "
                      "a WAV file (mono, 3-60 s); none: a 440 Hz tone. Default: the four voices."),
]


def webrtc_options(function):
    function.__click_params__ = [*getattr(function, "__click_params__", []), *reversed(WEBRTC_ONLY)]
    return function


@click.command("try", short_help="A profile's effect on TCP, chat and a call.")
@click.argument("profile")
@click.option("--seconds", type=Seconds(600), default=4, show_default=True,
              help="Length of each measurement.")
@click.option("--port", type=PORT, default=443, show_default=True, help="Server port of the TCP flows.")
@click.option("--voip-port", type=PORT, default=1400, show_default=True,
              help="UDP port of the call (1400: in Telegram's reflector range).")
@click.option("--callee-address", default=None, metavar="ADDRESS",
              help="The callee's IPv4 address, e.g. inside a range the profile matches.")
@where_option()
@json_option
@click.pass_context
def try_(ctx: click.Context, profile: str, seconds: float, port: int, voip_port: int,
         callee_address: str | None, where: str, as_json: bool) -> int | None:
    """Measure TCP, chat and a call across a fresh topology before and after applying PROFILE."""
    from pydantic import ValidationError

    from testbed.scenario.trial import address_hint, describe, run_trial
    from testbed.topology.model import HostSpec

    loaded = load_profile_arg(profile)
    if callee_address is not None:
        try:
            HostSpec(name="callee", address=callee_address)
        except ValidationError as exc:
            raise bad(f"--callee-address: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None
    need_root()
    out = Output(as_json)
    if dispatch.choose(where, lambda: features_of(loaded), out.progress) == "vm":
        return dispatch.forward(argv_of(ctx), inputs=loaded.files, progress=out.progress)
    hint = address_hint(loaded) if callee_address is None else None
    if hint:
        out.note(f"note: {hint}")
    results = run_trial(loaded, seconds, port, voip_port, progress=out.progress,
                        callee_address=callee_address)
    if as_json:
        out.json({"profile": loaded.profile.name, "measurements": [m.__dict__ for m in results]})
        return None
    out.table(["traffic", "clean path", "under the profile"],
              [[m.traffic, describe(m.kind, m.baseline), describe(m.kind, m.treated)] for m in results],
              title=f"{loaded.profile.name}: {loaded.profile.title}")
    return None


@click.command(short_help="Calls (VoIP-like RTP, or real WebRTC), scored.")
@click.argument("profile", required=False)
@click.option("--stack", type=click.Choice(["rtp", "webrtc"]), default="rtp", show_default=True,
              help="rtp: VoIP-like RTP streams, E-model per direction; webrtc: real WebRTC calls (aiortc "
                   "peers, signalling, ICE), their audio scored.")
@click.option("--codec", type=click.Choice(list(CODECS)), default="g711", show_default=True,
              help="With --stack webrtc: g711 (PCMU) or opus-webrtc (Opus).")
@click.option("--calls", "count", type=click.IntRange(1, 1000), default=1, show_default=True,
              help="Concurrent bidirectional calls (WebRTC: at most 20).")
@click.option("--seconds", type=Seconds(3600), default=10, show_default=True, help="Length of the calls.")
@click.option("--port", type=PORT, default=40000, show_default=True,
              help="UDP port of the media (both ends; rtp).")
@framing_options
@click.option("--dtx", is_flag=True, help="Silence suppression (ITU-T P.59 talkspurts; rtp).")
@webrtc_options
@results_option("results/calls", "Where traces.npz and metrics.json go (WebRTC: the run's directory).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), hidden=True)
@where_option()
@json_option
@click.pass_context
def calls(ctx: click.Context, profile: str | None, stack: str, codec: str, count: int, seconds: float,
          port: int, stun: bool, reflector: bool, dtx: bool, ice: str, relay_only: bool,
          connect_timeout: float | None, redials: int, speech: tuple[str, ...], results: Path,
          out_dir: Path | None, where: str, as_json: bool) -> int | None:
    """Calls across a fresh topology (under PROFILE if given; a clean path if not).

    rtp (the default): VoIP-like calls: loss, bursts, delay, jitter, jitter-buffer discards,
    R and MOS per call direction. webrtc: real WebRTC calls: whether each connects, how fast,
    over which candidate pair, and how its audio is heard (PESQ, ViSQOL, ...); the scenario
    it runs is kept in the run's directory, to change and run again with `testbed run`."""
    from testbed.scenario.callrun import run_call_experiment

    out = Output(as_json)
    if out_dir is not None:
        out.note("note: --out is now --results (--out still works, for now)")
        results = out_dir
    if stack == "webrtc":
        from testbed.cli.webrtc_calls import run_webrtc_calls

        return run_webrtc_calls(ctx, profile, codec, count, seconds, ice, relay_only, connect_timeout,
                                redials, speech, results, where, out)
    for option in WEBRTC_ONLY:
        if ctx.get_parameter_source(option.name) != click.core.ParameterSource.DEFAULT:
            raise bad(f"{option.opts[0]}: only with --stack webrtc")
    framing = _framing(stun, reflector)
    loaded = load_profile_arg(profile) if profile else None
    need_root()
    if dispatch.choose(where, lambda: features_of(loaded), out.progress) == "vm":
        inputs = loaded.files if loaded else ()
        return dispatch.forward(argv_of(ctx), inputs=inputs, outputs=[results], progress=out.progress)
    metrics = run_call_experiment(loaded, codec, count, seconds, port, framing, dtx, results, out.progress)
    if as_json:
        out.json({"profile": loaded.profile.name if loaded else None, "codec": codec, "results": str(results),
                  "streams": [m.to_dict() for m in metrics]})
        return None
    title = f"{codec} calls" + (f" under {loaded.profile.name}" if loaded else " on a clean path")
    out.table(["call", "dir", "loss %", "BurstR", "delay ms", "jitter ms", "late %", "MOS-LQ", "MOS-CQ"],
              [[str(m.call), "up" if m.direction == "uplink" else "down",
                f"{m.network_loss.loss_percent:.1f}", f"{m.network_loss.burst_r:.2f}",
                f"{m.delay.mean_ms:.1f}", f"{m.jitter_ms:.1f}",
                f"{m.adaptive_discard_percent:.1f}", f"{m.quality.mos_lq:.2f}", f"{m.quality.mos_cq:.2f}"]
               for m in metrics], title=title,
              caption="delay: mean one-way; jitter: RFC 3550; late: packets the jitter buffer discarded; "
                      "MOS 1-5 (G.107 E-model; 4.3+ excellent, below 2.6 poor)")
    out.line(f"traces and metrics: {results}/traces.npz, {results}/metrics.json")
    return None


@click.command(short_help="Profiles x codecs against a clean path.")
@click.argument("profiles", nargs=-1, required=True)
@click.option("--codec", "codecs", type=click.Choice(list(CODECS)), multiple=True, default=["g711"],
              show_default=True, help="Codec of the calls; repeat the option for more.")
@click.option("--seconds", type=Seconds(3600), default=10, show_default=True, help="Length of each call.")
@click.option("--port", type=PORT, default=1400, show_default=True, help="UDP port of the calls.")
@framing_options
@click.option("--parallel", type=click.IntRange(1, 64), default=None,
              help="Cells at once, each in its own topology (default: one per two cores where it runs).")
@results_option("results", "Where the matrix directory goes.")
@where_option()
@click.pass_context
def matrix(ctx: click.Context, profiles: tuple[str, ...], codecs: tuple[str, ...], seconds: float, port: int,
           stun: bool, reflector: bool, parallel: int | None, results: Path, where: str) -> int | None:
    """Every profile x codec side by side against a clean path: one table, one chart."""
    from testbed.scenario.matrix import run_matrix

    framing = _framing(stun, reflector)
    loaded = [load_profile_arg(p) for p in profiles]
    need_root()
    out = Output()
    if dispatch.choose(where, lambda: features_of(*loaded), out.progress) == "vm":
        inputs = [f for p in loaded for f in p.files]
        return dispatch.forward(argv_of(ctx), inputs=inputs, outputs=[results], progress=out.progress)
    parallel = parallel or max(1, (os.cpu_count() or 2) // 2)  # each cell's two sides want a core
    cells, directory = run_matrix([None, *loaded], list(codecs), seconds, port, results, parallel, framing,
                                  progress=out.progress)
    out.table(["profile", "codec", "MOS-CQ (1-5)", "loss %", "jitter ms", "chat delivered %"],
              [[c.profile, c.codec, number(c.mos_cq), number(c.loss), number(c.jitter_ms),
                number(100 * c.chat_delivered) if not c.error else f"error: {c.error}"] for c in cells],
              caption=f"calls framed as {framing}; loss counts packets the jitter buffer discarded")
    for profile, classes in {c.profile: c.idle for c in cells if c.idle}.items():
        out.note(f"note: no class of {profile} took a packet ({', '.join(classes)}): it treated these calls "
                 f"and chat as unmatched traffic (its matches name other framing, ports or addresses)")
    out.line(f"results: {directory}/matrix.json, {directory}/matrix.png")
    if any(c.error for c in cells):
        raise WorkloadFailed("some cells failed: " + "; ".join(f"{c.profile} x {c.codec}: {c.error}"
                                                               for c in cells if c.error))
    return None


@click.command("run", short_help="Run a scenario and check its expectations.")
@click.argument("scenario")
@results_option("results", "Where the results directory goes.")
@click.option("--check", "check_only", is_flag=True,
              help="Only validate the scenario and its profiles (no root needed, nothing runs).")
@click.option("--allow-commands", is_flag=True,
              help="Run the programs of `command` workloads of a scenario from outside scenarios/ "
                   "(they run as root; read them first).")
@where_option()
@json_option
@click.pass_context
def run_(ctx: click.Context, scenario: str, results: Path, check_only: bool, allow_commands: bool,
         where: str, as_json: bool) -> int:
    """Run a scenario (a path, or a name in scenarios/, or a catalog profile's name for its
    signature): phases, workloads, expectations. Exit 0 when every expectation holds, 1 when
    one fails, 2 for bad input, 4 when a workload failed."""
    from testbed.scenario.loader import load_scenario, resolve_scenario_path

    loaded = load_scenario(resolve_scenario_path(scenario))
    out = Output(as_json)
    for warning in loaded.warnings:
        out.note(f"note: {warning}")
    if check_only:
        out.line(f"{loaded.source}: ok ({len(loaded.scenario.phases)} phases, "
                 f"{len(loaded.scenario.workloads)} workloads, {len(loaded.scenario.expect)} expectations)")
        return 0
    _trust(loaded, allow_commands, out)
    need_root()
    return execute(ctx, loaded, results, where, out)


def _trust(loaded, allow: bool, out: Output) -> None:
    """A scenario is code: its command workloads run programs as root. One from outside the
    project's own scenarios/ runs them only with --allow-commands, and says which."""
    from testbed.errors import InputError, Problem
    from testbed.scenario.loader import from_catalog, programs

    found = programs(loaded)
    if not found or from_catalog(loaded):
        return
    if not allow:
        why = ("this scenario comes from outside the project's scenarios/ and runs programs as root "
               "(above): read them, then run it with --allow-commands")
        raise InputError([*found, Problem(str(loaded.source), None, "", why)])
    for program in found:
        out.note(f"note: {program}")


COMMANDS = [try_, calls, matrix, run_]
