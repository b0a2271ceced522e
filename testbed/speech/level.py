"""Active speech level (ITU-T P.56, method B, as the ITU's sv56 tool in G.191 measures it),
and scaling speech to a target level (-26 dBov, the level speech tests use).

dBov: relative to the overload point, a full-scale square wave (RMS 1.0 for samples in
[-1, 1]). The envelope is two first-order smoothers of |x| (time constant 30 ms); a sample
is active at threshold c when the envelope reaches c, or did less than 200 ms before
(hangover); the active level is where the mean power over active samples stands 15.9 dB
above the threshold (the margin M), interpolated between thresholds a factor 2 apart.
"""

from __future__ import annotations

import math

import numpy as np

TIME_CONSTANT_S = 0.03
HANGOVER_S = 0.2
MARGIN_DB = 15.9
TARGET_DBOV = -26.0
THRESHOLDS = 2.0 ** np.arange(-15, 1)  # 2^-15 .. 1: the sv56 thresholds 1 .. 32768 over full scale


def _with_hangover(active: np.ndarray, hangover: int) -> np.ndarray:
    """The active samples and the `hangover` samples after each active one."""
    index = np.arange(active.size)
    last = np.maximum.accumulate(np.where(active, index, -hangover - 1))
    return index - last <= hangover


def _envelope(x: np.ndarray, rate: int) -> np.ndarray:
    # imported here: scipy.signal takes a second to import (ten or more in the emulated VM),
    # and every run imports this module whether or not it scores speech
    from scipy.signal import lfilter

    g = math.exp(-1.0 / (rate * TIME_CONSTANT_S))
    return lfilter([1 - g], [1, -g], lfilter([1 - g], [1, -g], np.abs(x)))


def active_level_dbov(x: np.ndarray, rate: int) -> tuple[float, float]:
    """(active speech level in dBov, activity factor 0-1) of samples in [-1, 1]."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0 or not np.any(x):
        return -math.inf, 0.0
    envelope = _envelope(x, rate)
    hangover = round(HANGOVER_S * rate)
    energy = float(np.dot(x, x))
    points = []  # (excess of active power over the threshold in dB, active power in dB, activity)
    for c in THRESHOLDS:
        count = int(np.count_nonzero(_with_hangover(envelope >= c, hangover)))
        if count == 0:
            break
        power_db = 10 * math.log10(energy / count)
        points.append((power_db - 20 * math.log10(c), power_db, count / x.size))
    if not points:  # quieter than the lowest threshold (a dither of a bit or two): no speech
        return -math.inf, 0.0
    for (d0, a0, f0), (d1, a1, f1) in zip(points, points[1:], strict=False):
        if d1 <= MARGIN_DB <= d0:  # the excess falls as the threshold rises
            w = (d0 - MARGIN_DB) / (d0 - d1) if d0 != d1 else 0.0
            return a0 + w * (a1 - a0), f0 + w * (f1 - f0)
    excess, power, activity = points[-1] if points and points[-1][0] > MARGIN_DB else points[0]
    return power, activity


def active_samples(x: np.ndarray, rate: int) -> np.ndarray:
    """Which samples P.56 counts as speech: the envelope reaches the threshold that lies
    MARGIN_DB below the active level, or did within the hangover. A voice activity detector."""
    x = np.asarray(x, dtype=np.float64)
    level, _ = active_level_dbov(x, rate)
    if not math.isfinite(level):
        return np.zeros(x.size, bool)
    return _with_hangover(_envelope(x, rate) >= 10 ** ((level - MARGIN_DB) / 20), round(HANGOVER_S * rate))


def normalise(x: np.ndarray, rate: int, target_dbov: float = TARGET_DBOV) -> np.ndarray:
    """`x` scaled so its active speech level is `target_dbov` (clipped to [-1, 1])."""
    level, _ = active_level_dbov(x, rate)
    if not math.isfinite(level):
        raise ValueError("silence has no speech level")
    return np.clip(x * 10 ** ((target_dbov - level) / 20), -1.0, 1.0)
