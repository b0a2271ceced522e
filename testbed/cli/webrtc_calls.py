"""`testbed calls --stack webrtc`: real WebRTC calls run as a one-phase scenario
(testbed/scenario/webrtc_calls.py), reported call by call: connected, setup time, candidate
pair, ICE states; the network figures; the speech scores of what each callee heard."""

from __future__ import annotations

from pathlib import Path

import click

from testbed.cli.common import bad, load_profile_arg, need_root
from testbed.cli.output import Output, number
from testbed.cli.scenario_run import execute, failures, speech_table, verdict_code
from testbed.errors import InputError
from testbed.kernel.scratch import scratch

CODEC_OF = {"g711": "pcmu", "opus-webrtc": "opus"}  # the codecs aiortc speaks, by `calls --codec` names
RTP_ONLY = ("port", "stun", "reflector", "dtx")
MAX_CALLS = 20


def _refuse_rtp_options(ctx: click.Context) -> None:
    for name in RTP_ONLY:
        if ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT:
            raise bad(f"--{name}: only with --stack rtp (WebRTC calls choose their own ports and framing)")


def run_webrtc_calls(ctx: click.Context, profile: str | None, codec: str, count: int, seconds: float,
                     ice: str, relay_only: bool, connect_timeout: float | None, redials: int,
                     speech: tuple[str, ...], results: Path, where: str, out: Output) -> int:
    from testbed.scenario import webrtc_calls
    from testbed.scenario.loader import load_scenario

    _refuse_rtp_options(ctx)
    if codec not in CODEC_OF:
        raise bad(f"--codec {codec}: WebRTC calls here speak g711 (PCMU) or opus-webrtc (Opus)")
    if count > MAX_CALLS:
        raise bad(f"--calls {count}: at most {MAX_CALLS} WebRTC calls at once")
    if relay_only and not ice.startswith("turn"):
        raise bad(f"--relay-only needs a TURN server: --ice turn-udp, turn-tcp or turn-tls (--ice is {ice})")
    if "none" in speech and len(speech) > 1:
        raise bad("--speech none: a tone, alone (not with voices or WAV files)")
    loaded_profile = load_profile_arg(profile) if profile else None
    asked = webrtc_calls.WebrtcCalls(count, seconds, CODEC_OF[codec], ice, relay_only, connect_timeout,
                                     redials, speech)
    data = webrtc_calls.scenario(asked, loaded_profile)
    with scratch("calls") as tmp:
        try:
            loaded = load_scenario(webrtc_calls.write(data, Path(tmp) / webrtc_calls.SCENARIO_FILE))
        except InputError as exc:
            raise webrtc_calls.as_options(exc, asked) from None
        need_root()
        inputs = [f for f in loaded.files if f != loaded.source]  # the VM writes its own scenario

        def report(out: Output, name: str, title: str, result) -> int:
            webrtc_calls.write(data, result.directory / webrtc_calls.SCENARIO_FILE)
            return report_calls(out, title, result)

        return execute(ctx, loaded, results, where, out, report=report, inputs=inputs)


def report_calls(out: Output, title: str, result) -> int:
    from testbed.report import webrtc as webrtc_report
    from testbed.report.render import load

    info, _ = load(result.directory)
    calls = webrtc_report.calls(result.directory, info)
    figures = next((row for row in result.metrics if row.get("workload") == "webrtc"), {})
    if out.as_json:
        out.json({"scenario": str(result.directory / "scenario.yaml"), "verdict": result.verdict,
                  "directory": str(result.directory), "errors": result.errors, "figures": figures,
                  "calls": [{**c, "heard": str(c["heard"]) if c["heard"] else None} for c in calls]})
        return verdict_code(result)
    out.table(["call", "connected", "setup", "candidate pair", "ICE states (from the offer)"],
              [[str(c["call"]), "yes" if c["connected"] else "no",
                "-" if c["setup_ms"] is None else f"{c['setup_ms']:.0f} ms", c["pair"], c["states"]]
               for c in calls], title=title, caption=webrtc_report.CAVEAT)
    out.table(["connected", "loss %", "jitter ms", "rtt ms", "kbit/s", "redials"],
              [[number(figures.get(k)) for k in ("connected", "loss", "jitter", "rtt", "kbit", "redials")]],
              title="Network, from getStats (means over the connected calls' directions)")
    failures(out, result)
    speech_table(out, result.directory)
    out.line(f"results: {result.directory} (the scenario: {result.directory}/scenario.yaml)")
    return verdict_code(result)
