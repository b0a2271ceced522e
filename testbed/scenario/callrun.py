"""`testbed calls`: calls across a fresh topology, optionally under a profile; metrics per
call direction, with the traces and metrics written to a directory."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from testbed.measure.call import StreamMetrics, stream_metrics
from testbed.measure.emodel import CODECS
from testbed.measure.trace import save_traces
from testbed.profile.loader import LoadedProfile
from testbed.scenario.session import Experiment
from testbed.traffic.calls import run_calls


def run_call_experiment(loaded: LoadedProfile | None, codec: str, calls: int, seconds: float, port: int,
                        framing: str, dtx: bool, out_dir: Path,
                        progress: Callable[[str], None] = lambda _: None) -> list[StreamMetrics]:
    with Experiment(label="c", progress=progress) as session:
        if loaded is not None:
            session.apply(loaded)
        progress(f"{calls} bidirectional {codec} call(s) for {seconds:g} s")
        result = run_calls(session.endpoint("caller"), session.endpoint("callee"), codec, calls=calls,
                           seconds=seconds, port=port, framing=framing, dtx=dtx)
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
