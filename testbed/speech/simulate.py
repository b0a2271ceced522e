"""Call traces made up from a loss pattern, for what needs many controlled conditions rather
than a network: calibrating the E-model against PESQ over a grid of loss rates and burst
lengths, the benchmark, and the tests of the scorers' ordering. The network's own claims
are tested with real packets (tests/host, tests/vm).

Loss follows the two-state Gilbert model: from the good state a packet is lost with
probability p, and a loss burst ends with probability r, so bursts average 1/r packets and
the loss rate is p / (p + r). Mean burst 1 with p = loss is independent (random) loss.
"""

from __future__ import annotations

import numpy as np

from testbed.measure.trace import RECV_DTYPE, SENT_DTYPE, StreamTrace


def gilbert_losses(frames: int, loss: float, mean_burst: float, seed: int = 1) -> np.ndarray:
    """Which of `frames` packets are lost: rate `loss` (0-1) in bursts of `mean_burst` on average."""
    if not 0 <= loss < 1 or mean_burst < 1:
        raise ValueError("loss must be in [0, 1) and mean_burst at least 1")
    rng = np.random.default_rng(seed)
    r = 1.0 / mean_burst
    p = loss * r / (1 - loss)
    draws = rng.random(frames)
    lost = np.zeros(frames, bool)
    bad = False
    for k in range(frames):
        bad = draws[k] >= r if bad else draws[k] < p
        lost[k] = bad
    return lost


def trace(frames: int, frame_ms: float, lost: np.ndarray | None = None, delay_ms: float = 30.0,
          sent_frames: np.ndarray | None = None) -> StreamTrace:
    """A call direction sending `sent_frames` (default: every frame) at a constant delay,
    without the packets `lost` marks (indexed by packet)."""
    frame_index = np.arange(frames) if sent_frames is None else np.asarray(sent_frames)
    n = frame_index.size
    sent = np.zeros(n, SENT_DTYPE)
    sent["seq"], sent["frame"] = np.arange(n), frame_index
    sent["send_ns"] = (frame_index * frame_ms * 1e6).astype(np.int64)
    sent["size"] = 100
    kept = np.ones(n, bool) if lost is None else ~np.asarray(lost[:n], bool)
    received = np.zeros(int(kept.sum()), RECV_DTYPE)
    received["seq"], received["send_ns"] = sent["seq"][kept], sent["send_ns"][kept]
    received["recv_ns"] = received["send_ns"] + int(delay_ms * 1e6)
    received["size"] = 100
    return StreamTrace(0, "uplink", frame_ms, sent, received)


def spread_losses(frames: int, count: int, burst: int, seed: int = 1) -> np.ndarray:
    """Exactly `count` of `frames` packets lost, in bursts of exactly `burst` (the last one
    shorter if `count` is not a multiple), at random places that neither touch nor overlap:
    random and bursty loss at the same rate, for comparing them."""
    rng = np.random.default_rng(seed)
    sizes = [burst] * (count // burst) + ([count % burst] if count % burst else [])
    slots = frames // (burst + 1)  # a burst and the gap after it
    if len(sizes) > slots:
        raise ValueError(f"{count} losses in bursts of {burst} do not fit in {frames} packets")
    lost = np.zeros(frames, bool)
    for slot, size in zip(sorted(rng.choice(slots, len(sizes), replace=False)), sizes, strict=True):
        start = slot * (burst + 1)
        lost[start:start + size] = True
    return lost
