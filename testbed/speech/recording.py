"""A call recorded where it was played (a WebRTC callee's audio), lined up with what was said
and scored.

The sender loops its reference speech from the first frame; the recording starts at the
first packet the receiver got (aiortc counts RTP time from there), which need not be the
first one sent. So the recording's place in the looped reference is found by
cross-correlation, and the reference is cut from there to the recording's length. The
recording is then scored window by window as the voip workload's audio is
(testbed/speech/assess.py): each window one clip long.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from testbed.speech import scores
from testbed.speech.assess import score_windows
from testbed.speech.level import active_samples
from testbed.speech.reference import resample

ALIGN_RATE = 4000  # speech's envelope lines up well at 4 kHz, 4x fewer samples than 16 kHz


def align(recording: np.ndarray, reference: np.ndarray, rate: int) -> int:
    """The sample of the looped `reference` at which `recording` starts (both at `rate`):
    the lag of the highest cross-correlation over one loop of the reference."""
    from scipy.signal import correlate

    if not recording.any() or not reference.any():
        return 0
    step = max(1, rate // ALIGN_RATE)
    low_rec = resample(recording.astype(np.float64), rate, rate // step)
    low_ref = resample(reference.astype(np.float64), rate, rate // step)
    span = min(low_rec.size, 2 * low_ref.size)  # enough to fix the place, short enough to stay fast
    looped = np.resize(low_ref, low_ref.size + span)
    coarse = int(np.argmax(correlate(looped, low_rec[:span], mode="valid", method="fft")[: low_ref.size]))
    # refine at the full rate around the coarse lag
    lo, width = coarse * step - 2 * step, 4 * step + 1
    piece = recording[: min(recording.size, span * step)].astype(np.float64)
    looped_full = np.resize(reference.astype(np.float64), reference.size + piece.size + width + 2 * step)
    shifts = [(lo + k) % reference.size for k in range(width)]
    return max(shifts, key=lambda s: float(np.dot(looped_full[s: s + piece.size], piece)))


def reference_from(reference: np.ndarray, start: int, length: int) -> np.ndarray:
    """`length` samples of the looped `reference` from sample `start`."""
    return np.resize(np.roll(reference, -start), length)


@dataclass
class Recorded:
    reference: np.ndarray  # int16 at `rate`, lined up with the recording
    start: int  # where in the reference clip the recording starts (samples at `rate`)
    heard: float  # share of the reference's speech frames the receiver played
    scores: dict[str, float] = field(default_factory=dict)  # means over the windows
    windows: list[dict[str, float]] = field(default_factory=list)
    silent: bool = False


def assess(recording: np.ndarray, played: np.ndarray, reference: np.ndarray, rate: int, frame_samples: int,
           scored_rate: int, which: tuple[str, ...] = scores.NAMES) -> Recorded:
    """The recording (int16 at `rate`; `played`: one flag per frame of `frame_samples`, whether
    the receiver played a frame there) against the `reference` clip it was made from (int16,
    looped by the sender), scored at `scored_rate` over clip-long windows."""
    if not recording.any():  # nothing played: the bottom of every scale (as scores.score gives silence)
        return Recorded(reference_from(reference, 0, recording.size), 0, 0.0,
                        {name: scores.FLOOR[name] if name in which else math.nan for name in scores.NAMES},
                        [], True)
    start = align(recording, reference, rate)
    said = reference_from(reference, start, recording.size)
    frames = min(played.size, said.size // frame_samples)
    active = active_samples(said / 32768, rate)[: frames * frame_samples]
    speech = active.reshape(-1, frame_samples).any(axis=1)
    spoken = np.count_nonzero(speech)
    heard = float(np.count_nonzero(played[:frames] & speech) / spoken) if spoken else 0.0
    ref, deg = (resample(x / 32768, rate, scored_rate) for x in (said, recording))
    means, found, silent = score_windows(ref, deg, scored_rate, reference.size * scored_rate // rate, which)
    return Recorded(said, start, heard, means, found, silent)
