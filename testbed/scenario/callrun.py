"""Calls across a fresh topology, optionally under a profile: metrics per call direction,
traces and metrics written to a directory."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from testbed.compile.compiler import Target, compile_profile
from testbed.kernel import apply as engine
from testbed.measure.call import StreamMetrics, stream_metrics
from testbed.measure.emodel import CODECS
from testbed.measure.trace import save_traces
from testbed.profile.loader import LoadedProfile
from testbed.topology import build
from testbed.topology.model import TopologySpec
from testbed.traffic.calls import run_calls


def run_call_experiment(loaded: LoadedProfile | None, codec: str, calls: int, seconds: float, port: int,
                        framing: str, dtx: bool, out_dir: Path,
                        progress: Callable[[str], None] = lambda _: None) -> list[StreamMetrics]:
    run = f"calls{os.getpid() % 1000}"
    progress("bringing up caller -- censor -- callee")
    state = build.up(TopologySpec(), run)
    try:
        if loaded is not None:
            plan = compile_profile(loaded, Target(state.devices("outside"), state.devices("inside")))
            progress(f"applying {plan.profile}")
            engine.apply(plan, state.censor.netns)
        progress(f"{calls} bidirectional {codec} call(s) for {seconds:g} s")
        result = run_calls(state, codec, calls=calls, seconds=seconds, port=port, framing=framing, dtx=dtx)
    finally:
        progress("tearing down")
        build.down(run)
    metrics = [stream_metrics(t, CODECS[codec]) for t in result.traces]
    out_dir.mkdir(parents=True, exist_ok=True)
    save_traces(out_dir / "traces.npz", result.traces)
    summary = {"profile": loaded.profile.name if loaded else None, "codec": codec, "calls": calls,
               "seconds": seconds, "framing": framing, "dtx": dtx, "codec_values": asdict(CODECS[codec]),
               "streams": [m.to_dict() for m in metrics]}
    tmp = out_dir / "metrics.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2))
    tmp.replace(out_dir / "metrics.json")
    return metrics
