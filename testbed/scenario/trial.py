"""A quick before/after experiment: what does one profile do to traffic across the censor?

Brings up a throwaway topology, measures TCP both ways and a 50 pps VoIP-like UDP stream
with iperf3, applies the profile, measures again, and tears everything down.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from testbed.compile.compiler import Target, compile_profile
from testbed.kernel import apply as engine
from testbed.profile.loader import LoadedProfile
from testbed.topology import build
from testbed.topology.model import TopologySpec
from testbed.traffic.iperf import IperfResult, run_iperf

VOIP_RATE_BPS = 68_800  # 50 packets/s of 172 bytes: G.711 20 ms frames with RTP headers
VOIP_LENGTH = 172


@dataclass(frozen=True)
class Measurement:
    name: str
    baseline: IperfResult
    treated: IperfResult


def _measure(state, seconds: float, port: int, voip_port: int) -> dict[str, IperfResult]:
    caller, callee = state.nodes["caller"].netns, state.nodes["callee"].netns
    ip = state.nodes["callee"].address()
    return {
        "TCP uplink (caller -> callee)": run_iperf(caller, callee, ip, seconds, port=port),
        "TCP downlink (callee -> caller)": run_iperf(caller, callee, ip, seconds, reverse=True, port=port),
        f"VoIP-like UDP 50 pps to port {voip_port}": run_iperf(
            caller, callee, ip, seconds, udp_rate_bps=VOIP_RATE_BPS, length=VOIP_LENGTH, port=voip_port),
    }


def run_trial(loaded: LoadedProfile, seconds: float = 4, port: int = 443, voip_port: int = 1400,
              progress: Callable[[str], None] = lambda _: None) -> list[Measurement]:
    run = f"try{os.getpid() % 100000}"
    progress("bringing up caller -- censor -- callee")
    state = build.up(TopologySpec(), run)
    try:
        plan = compile_profile(loaded, Target(state.devices("outside"), state.devices("inside")))
        engine.check_plan(plan, state.censor.netns)  # fail before measuring, not after
        progress(f"measuring the clean path ({seconds:g} s per flow)")
        baseline = _measure(state, seconds, port, voip_port)
        progress(f"applying {plan.profile}")
        engine.apply(plan, state.censor.netns)
        progress(f"measuring under {plan.profile}")
        treated = _measure(state, seconds, port, voip_port)
        return [Measurement(name, baseline[name], treated[name]) for name in baseline]
    finally:
        progress("tearing down")
        build.down(run)
