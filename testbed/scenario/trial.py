"""A quick before/after experiment: what does one profile do to traffic across the censor?

Brings up a throwaway topology, measures bulk TCP both ways (iperf3), chat-like messages
and a bidirectional VoIP-like call (the same workloads scenarios use), applies the
profile, measures again, and tears everything down.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from testbed.compile.match import ip_version
from testbed.kernel.scratch import scratch
from testbed.profile.loader import LoadedProfile
from testbed.scenario.session import Experiment
from testbed.scenario.workloads import Metrics, PhaseContext
from testbed.scenario.workloads.chat import Chat
from testbed.scenario.workloads.iperf3 import Iperf
from testbed.scenario.workloads.voip import Voip
from testbed.topology.model import HostSpec, TopologySpec


@dataclass(frozen=True)
class Measurement:
    traffic: str  # what was measured: "TCP up (port 443)"
    kind: str  # the workload type that measured it
    baseline: Metrics
    treated: Metrics


def describe(kind: str, metrics: Metrics) -> str:
    """One measurement as a person reads it."""
    if kind == "iperf3":
        mbit = metrics["mbit"]
        return f"{mbit:.2f} Mbit/s" if mbit >= 0.1 else f"{mbit * 1000:.1f} kbit/s"
    if kind == "chat":
        if not metrics["delivered"]:
            return "none delivered"
        return f"{100 * metrics['delivered']:.0f} % delivered, p95 {metrics['latency_p95']:.0f} ms"
    return f"MOS {metrics['mos_cq']:.2f}, loss {metrics['loss']:.1f} %, jitter {metrics['jitter']:.1f} ms"


def _measure(session: Experiment, seconds: float, port: int, voip_port: int, codec: str,
             scratch_dir: Path) -> list[tuple[str, str, Metrics]]:
    def ctx(length: float) -> PhaseContext:
        return PhaseContext(session, "try", 1, length, scratch_dir, keep_traces=False)

    return [
        (f"TCP up (port {port})", "iperf3", Iperf(type="iperf3", port=port).run_phase(ctx(seconds))),
        (f"TCP down (port {port})", "iperf3",
         Iperf(type="iperf3", port=port, reverse=True).run_phase(ctx(seconds))),
        ("chat messages (TCP 5222)", "chat",
         Chat(type="chat", interval="100ms", deadline="3s").run_phase(ctx(seconds))),
        (f"{codec} call (UDP {voip_port})", "voip",
         Voip(type="voip", codec=codec, port=voip_port).run_phase(ctx(seconds * 2))),
    ]


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
    spec = TopologySpec(outside=[HostSpec(name="callee", address=callee_address)])
    with Experiment(spec, label="t", progress=progress) as session, \
            scratch("try") as scratch_dir:
        session.check(loaded)  # fail before measuring, not after
        progress("measuring the clean path")
        baseline = _measure(session, seconds, port, voip_port, codec, scratch_dir)
        session.apply(loaded)
        progress(f"measuring under {loaded.profile.name}")
        treated = _measure(session, seconds, port, voip_port, codec, scratch_dir)
    return [Measurement(name, kind, before, after)
            for (name, kind, before), (_, _, after) in zip(baseline, treated, strict=True)]
