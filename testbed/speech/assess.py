"""One call direction, heard and scored: its trace replayed through the jitter buffer and the
real decoder, then the received audio scored against the reference it was made from.

Scores are taken over windows one clip long (the reference speech loops through a call):
PESQ and ViSQOL are made for utterances of 8-12 s, not minutes. A last window shorter than
MIN_WINDOW_S is left out, unless it is the only one. The call's score is the mean of the
windows a scorer could score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from testbed.measure.trace import StreamTrace
from testbed.speech import scores
from testbed.speech.level import active_samples
from testbed.speech.media import Media
from testbed.speech.playout import DTX, FEC, PLAYED, Playout, replay
from testbed.speech.reference import resample
from testbed.speech.render import render

MIN_WINDOW_S = 3.0


@dataclass
class Heard:
    playout: Playout
    audio: np.ndarray  # int16 at the codec's rate, aligned with `reference`
    reference: np.ndarray  # int16 at the codec's rate
    rate: int
    heard: float  # share of the reference's speech frames decoded from packets (played or FEC)
    scores: dict[str, float] = field(default_factory=dict)  # means over the windows
    windows: list[dict[str, float]] = field(default_factory=list)
    silent: bool = False


def hear(trace: StreamTrace, media: Media, frames: int) -> Heard:
    """The received audio of a call direction `frames` frames long (no scores yet)."""
    playout = replay(trace, frames, media.preset.carries_fec)
    audio = render(media, playout)
    ref = media.reference_for(frames)
    n = media.preset.frame_samples
    speech = active_samples(ref / 32768, media.preset.rate)[: frames * n].reshape(-1, n).any(axis=1)
    speech &= playout.fates != DTX  # what the encoder left unsent it judged silence: not speech to hear
    decoded = np.isin(playout.fates, (PLAYED, FEC))
    heard = float(np.count_nonzero(decoded & speech) / np.count_nonzero(speech)) if speech.any() else 0.0
    return Heard(playout, audio, ref, media.preset.rate, heard)


def windows(total: int, clip: int, rate: int) -> list[tuple[int, int]]:
    """[start, end) sample ranges of clip-long windows over `total` samples."""
    spans = [(a, min(a + clip, total)) for a in range(0, total, clip)]
    if len(spans) > 1 and spans[-1][1] - spans[-1][0] < MIN_WINDOW_S * rate:
        spans.pop()
    return spans


def window_mean(values: list[float]) -> float:
    """The mean of the windows a scorer could score (NaN: none)."""
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


Windows = list[dict[str, float]]


def score_windows(ref: np.ndarray, deg: np.ndarray, rate: int, clip: int,
                  which: tuple[str, ...] = scores.NAMES) -> tuple[dict[str, float], Windows, bool]:
    """`deg` against `ref` (float, lined up, at `rate`) over `clip`-long windows: the scores'
    means, each window's scores, and whether every window was silent."""
    results = [scores.score(ref[a:b], deg[a:b], rate, which) for a, b in windows(len(ref), clip, rate)]
    found = [r.as_dict() for r in results]
    return {name: window_mean([w[name] for w in found]) for name in scores.NAMES}, found, \
        all(r.silent for r in results)


def score(heard: Heard, media: Media, which: tuple[str, ...] = scores.NAMES) -> Heard:
    """`heard` with its scores filled in (at the preset's scoring rate)."""
    rate = media.preset.scored_rate
    ref = resample(heard.reference / 32768, heard.rate, rate)
    deg = resample(heard.audio / 32768, heard.rate, rate)
    clip = media.frames * media.preset.frame_samples * rate // heard.rate
    heard.scores, heard.windows, heard.silent = score_windows(ref, deg, rate, clip, which)
    return heard
