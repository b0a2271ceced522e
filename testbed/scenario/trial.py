"""A quick before/after experiment: what does one profile do to traffic across the censor?

Brings up a throwaway topology, measures bulk TCP both ways (iperf3), chat-like messages
and a bidirectional VoIP-like call (the RTP harness: loss, jitter, MOS), applies the
profile, measures again, and tears everything down.
"""

from __future__ import annotations

import ipaddress
import itertools
import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from testbed.compile.compiler import Target, compile_profile
from testbed.compile.match import ip_version
from testbed.kernel import apply as engine
from testbed.measure.call import stream_metrics
from testbed.measure.emodel import CODECS
from testbed.profile.loader import LoadedProfile
from testbed.topology import build
from testbed.topology.model import HostSpec, TopologySpec, TopologyState
from testbed.traffic.calls import run_calls
from testbed.traffic.chat import run_chat
from testbed.traffic.iperf import run_iperf


@dataclass(frozen=True)
class Measurement:
    name: str
    baseline: str
    treated: str


def _rate(bps: float) -> str:
    return f"{bps / 1e6:.2f} Mbit/s" if bps >= 1e5 else f"{bps / 1e3:.1f} kbit/s"


def _measure(state: TopologyState, seconds: float, port: int, voip_port: int, codec: str) -> dict[str, str]:
    caller, callee = state.nodes["caller"].netns, state.nodes["callee"].netns
    ip = state.nodes["callee"].address()
    out = {
        f"TCP up (port {port})": _rate(run_iperf(caller, callee, ip, seconds, port=port).received_bps),
        f"TCP down (port {port})": _rate(run_iperf(caller, callee, ip, seconds, reverse=True, port=port)
                                         .received_bps),
    }
    chat = run_chat(state, count=int(seconds * 10), interval_s=0.1, deadline_s=3.0)
    delivered = f"{100 * chat.delivery_ratio:.0f} % delivered, p95 {chat.latency_p95_ms:.0f} ms"
    out["chat messages (TCP 5222)"] = delivered if chat.delivered else "none delivered"
    call = run_calls(state, codec, calls=1, seconds=seconds * 2, port=voip_port)
    metrics = [stream_metrics(t, CODECS[codec]) for t in call.traces]
    loss = statistics.fmean(m.effective_loss.loss_percent for m in metrics)
    jitter = statistics.fmean(m.jitter_ms for m in metrics)
    mos = statistics.fmean(m.quality.mos_cq for m in metrics)
    out[f"{codec} call (UDP {voip_port})"] = f"MOS {mos:.2f}, loss {loss:.1f} %, jitter {jitter:.1f} ms"
    return out


def address_hint(loaded: LoadedProfile) -> str | None:
    """For a profile that matches address sets: how to put the callee inside one."""
    if not loaded.address_sets:
        return None
    name, prefixes = sorted(loaded.address_sets.items())[0]
    first = next((p for p in prefixes if ip_version(p) == 4), None)
    if first is None:
        return None
    hosts = list(itertools.islice(ipaddress.ip_network(first).hosts(), 10))
    example = hosts[-1]  # a tenth host where there is one: clear of the prefix's .0 and .1
    return (f"this profile matches addresses (@{name}: {first}, ...); the callee sits outside them "
            f"unless you give --callee-address, e.g. --callee-address {example}")


def run_trial(loaded: LoadedProfile, seconds: float = 4, port: int = 443, voip_port: int = 1400,
              codec: str = "g711", progress: Callable[[str], None] = lambda _: None,
              callee_address: str | None = None) -> list[Measurement]:
    run = f"try{os.getpid() % 100000}"
    progress("bringing up caller -- censor -- callee")
    spec = TopologySpec(outside=[HostSpec(name="callee", address=callee_address)])
    state = build.up(spec, run)
    try:
        plan = compile_profile(loaded, Target(state.devices("outside"), state.devices("inside")))
        engine.check_plan(plan, state.censor.netns)  # fail before measuring, not after
        progress("measuring the clean path")
        baseline = _measure(state, seconds, port, voip_port, codec)
        progress(f"applying {plan.profile}")
        engine.apply(plan, state.censor.netns)
        progress(f"measuring under {plan.profile}")
        treated = _measure(state, seconds, port, voip_port, codec)
        return [Measurement(name, baseline[name], treated[name]) for name in baseline]
    finally:
        progress("tearing down")
        build.down(run)
