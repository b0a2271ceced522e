"""Loss and its shape: rate, bursts (RFC 3611 with Gmin), Gilbert-Elliott p and q, BurstR."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GMIN = 16  # RFC 3611: a run of Gmin received packets ends a burst


@dataclass(frozen=True)
class LossStats:
    expected: int
    lost: int
    loss_percent: float
    mean_burst_packets: float  # mean length of runs of consecutive losses
    burst_density: float  # RFC 3611: fraction lost within bursts
    gap_density: float  # fraction lost within gaps
    burst_duration_ms: float  # mean
    gap_duration_ms: float  # mean
    p: float  # P(loss | previous received)
    q: float  # P(received | previous lost)
    burst_r: float  # 1 / (p + q); 1 for random loss


def loss_runs(lost: np.ndarray) -> np.ndarray:
    """Lengths of the runs of consecutive True values."""
    padded = np.concatenate(([False], lost.astype(bool), [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return edges[1::2] - edges[::2]


def gilbert_elliott(lost: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood transition probabilities of a 2-state Markov chain."""
    lost = lost.astype(bool)
    if lost.size < 2:
        return 0.0, 1.0
    prev, cur = lost[:-1], lost[1:]
    from_received = np.count_nonzero(~prev)
    from_lost = np.count_nonzero(prev)
    p = np.count_nonzero(~prev & cur) / from_received if from_received else 1.0
    q = np.count_nonzero(prev & ~cur) / from_lost if from_lost else 1.0
    return float(p), float(q)


def burst_gap(lost: np.ndarray, frame_ms: float, gmin: int = GMIN) -> tuple[float, float, float, float]:
    """RFC 3611 section 4.7.2 burst and gap metrics.

    Losses closer than `gmin` received packets to each other belong to one burst, which
    runs from its first to its last loss; a loss with at least `gmin` received packets on
    either side is an isolated loss and counts in the gap. Returns (burst density, gap
    density, mean burst duration ms, mean gap duration ms).
    """
    positions = np.flatnonzero(lost.astype(bool))
    n = lost.size
    bursts: list[tuple[int, int, int]] = []  # (start, end inclusive, losses)
    if positions.size:
        start = prev = positions[0]
        count = 1
        for pos in positions[1:]:
            if pos - prev - 1 < gmin:
                count += 1
            else:
                bursts.append((start, prev, count))
                start, count = pos, 1
            prev = pos
        bursts.append((start, prev, count))
    bursts = [b for b in bursts if b[2] > 1]
    burst_packets = sum(end - start + 1 for start, end, _ in bursts)
    burst_losses = sum(count for _, _, count in bursts)
    gap_packets = n - burst_packets
    gap_losses = int(positions.size) - burst_losses
    gaps = len(bursts) + 1 if n else 0
    return (
        burst_losses / burst_packets if burst_packets else 0.0,
        gap_losses / gap_packets if gap_packets else 0.0,
        burst_packets * frame_ms / len(bursts) if bursts else 0.0,
        gap_packets * frame_ms / gaps if gaps else 0.0,
    )


def loss_stats(lost: np.ndarray, frame_ms: float) -> LossStats:
    """`lost[i]`: packet i (in sending order) never arrived, or (for Ppl) came too late."""
    lost = lost.astype(bool)
    expected = int(lost.size)
    count = int(np.count_nonzero(lost))
    runs = loss_runs(lost)
    p, q = gilbert_elliott(lost)
    burst_density, gap_density, burst_ms, gap_ms = burst_gap(lost, frame_ms)
    return LossStats(
        expected=expected,
        lost=count,
        loss_percent=100.0 * count / expected if expected else 0.0,
        mean_burst_packets=float(runs.mean()) if runs.size else 0.0,
        burst_density=burst_density,
        gap_density=gap_density,
        burst_duration_ms=burst_ms,
        gap_duration_ms=gap_ms,
        p=p,
        q=q,
        burst_r=1.0 / (p + q) if (p + q) > 0 and count else 1.0,
    )
