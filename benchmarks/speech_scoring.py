"""How fast a call direction is heard and scored, per stage, on one core.

    taskset -c 0 .venv/bin/python benchmarks/speech_scoring.py [--seconds 30] [--repeat 3]

For each codec preset, a call direction of SECONDS with 5 % random loss is replayed through
the jitter buffer and the real decoder, then scored by each scorer. Prints the best of
REPEAT runs of every stage (after one warm-up: model loading and JIT compilation happen
once per process) and the whole as a multiple of real time, with every score and without
ViSQOL and DNSMOS (a workload's `scores: [pesq, plcmos, stoi]`). Time is CPU time of the whole
process (every thread), so a busy machine does not inflate it and no second core can hide
in it. The speech models run on one thread each (testbed/speech/scores.py); taskset keeps
everything else on one core too.
"""

from __future__ import annotations

import argparse
import sys
import time

from testbed.speech import assess, scores
from testbed.speech.media import encode
from testbed.speech.presets import PRESETS
from testbed.speech.reference import resample
from testbed.speech.simulate import gilbert_losses, trace

PRESET_NAMES = ("g711", "opus-webrtc", "opus-telegram")


def _best(function, repeat: int) -> tuple[float, object]:
    function()  # warm-up
    best, value = float("inf"), None
    for _ in range(repeat):
        started = time.process_time()
        value = function()
        best = min(best, time.process_time() - started)
    return best, value


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"{'preset':14} {'stage':16} {'seconds':>8} {'x real time':>12}")
    for name in PRESET_NAMES:
        media = encode(PRESETS[name], "en-f")
        frames = int(args.seconds * 1000 / media.preset.frame_ms)
        call = trace(frames, media.preset.frame_ms, gilbert_losses(frames, 0.05, 1, seed=2))
        spent, heard = _best(lambda m=media, c=call, n=frames: assess.hear(c, m, n), args.repeat)
        stages = {"decode": spent}
        rate = media.preset.scored_rate
        ref = resample(heard.reference / 32768, heard.rate, rate)
        deg = resample(heard.audio / 32768, heard.rate, rate)
        clip = media.frames * media.preset.frame_samples * rate // heard.rate
        spans = assess.windows(len(ref), clip, rate)

        def run(which, r=ref, d=deg, hz=rate, w=spans):
            return [scores.score(r[a:b], d[a:b], hz, which) for a, b in w]

        for scorer in scores.NAMES:
            stages[scorer], _ = _best(lambda s=scorer: run((s,)), args.repeat)
        for stage, spent in stages.items():
            print(f"{name:14} {stage:16} {spent:8.3f} {args.seconds / spent:12.1f}")
        # the whole, timed as one (each stage above also pays the silence check and resampling),
        # and a workload's `scores` without the two costliest; decoding always runs
        fast = tuple(n for n in scores.NAMES if n not in ("visqol", "dnsmos"))
        for label, which in (("all", scores.NAMES), ("-visqol,dnsmos", fast)):
            spent = stages["decode"] + _best(lambda w=which: run(w), args.repeat)[0]
            print(f"{name:14} {label:16} {spent:8.3f} {args.seconds / spent:12.1f}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
