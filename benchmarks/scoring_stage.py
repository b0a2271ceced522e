"""The scoring stage's wall time: one process against a pool of one worker per core.

    .venv/bin/python benchmarks/scoring_stage.py [--calls 4] [--seconds 30] [--repeat 3]

A results directory as a voip workload leaves it (G.711, CALLS calls of SECONDS, both
directions scored, 5 % random loss) is scored by the scoring stage with the default scores
(pesq, stoi, plcmos) and with all five, in one process and with the pool (the stage itself
takes the pool only when ViSQOL or DNSMOS is asked for: POOL_SCORES). Prints the median
wall time of REPEAT runs of each (each from a fresh copy of the directory: the workers start,
import and load their models every time, as in a run) and the pool's speed-up. Wall time,
not CPU time: what the pool saves is waiting, on a machine with more than one core.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from testbed.measure.trace import save_traces
from testbed.scenario import scoring
from testbed.scenario.workloads.base import PhaseContext
from testbed.scenario.workloads.voip import Voip
from testbed.speech.scores import DEFAULT, NAMES
from testbed.speech.simulate import gilbert_losses, trace


def _results(directory: Path, calls: int, seconds: float) -> list[dict]:
    workload = Voip(type="voip", calls=calls, scored_calls=calls)
    ctx = PhaseContext(session=None, phase="call", repetition=1, seconds=seconds, directory=directory)
    media = workload.media(directory)
    frames = int(seconds * 50)
    traces = []
    for k in range(2 * calls):
        loss = gilbert_losses(frames, 0.05, 1, seed=k)
        traces.append(dataclasses.replace(trace(frames, 20, loss), call=k // 2,
                                          direction=("uplink", "downlink")[k % 2]))
    path = ctx.artefact("voip", ".npz")
    save_traces(path, traces)
    notes = [{"call": c, "uplink": up.name, "downlink": down.name} for c, (up, down) in enumerate(media)]
    workload.leave_note(ctx, notes, traces=path.name, frames=frames)
    return [{"repetition": 1, "phase": "call", "workload": "voip", "type": "voip"}]


def _timed(template: Path, scores: tuple[str, ...], pooled: bool) -> float:
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch) / "run"
        shutil.copytree(template, work)
        rows = json.loads((template / "rows.json").read_text())
        scoring.POOL_FROM = 3 if pooled else 10**9
        scoring.POOL_SCORES = frozenset(NAMES)  # both ways for every set of scores, to compare
        started = time.perf_counter()
        scoring.score_pending(work, rows, scores=scores)
        return time.perf_counter() - started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        template = Path(scratch)
        (template / "rows.json").write_text(json.dumps(_results(template, args.calls, args.seconds)))
        directions = 2 * args.calls
        print(f"scoring stage: {directions} call directions of {args.seconds:g} s (G.711, 5 % loss), "
              f"median of {args.repeat}")
        print(f"{'scores':28} {'one process s':>14} {'pool s':>8} {'speed-up':>9}")
        for label, which in (("default (" + ", ".join(DEFAULT) + ")", DEFAULT), ("all five", NAMES)):
            alone = statistics.median(_timed(template, which, False) for _ in range(args.repeat))
            pooled = statistics.median(_timed(template, which, True) for _ in range(args.repeat))
            print(f"{label:28} {alone:14.1f} {pooled:8.1f} {alone / pooled:8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
