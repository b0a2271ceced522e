"""Delay, RFC 3550 interarrival jitter, duplicates and reordering, and jitter buffers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DelayStats:
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    min_ms: float
    max_ms: float
    stdev_ms: float


def delay_stats(delays_ns: np.ndarray) -> DelayStats:
    if delays_ns.size == 0:
        nan = float("nan")
        return DelayStats(nan, nan, nan, nan, nan, nan, nan)
    ms = delays_ns / 1e6
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return DelayStats(float(ms.mean()), float(p50), float(p95), float(p99), float(ms.min()),
                      float(ms.max()), float(ms.std(ddof=1)) if ms.size > 1 else 0.0)


JITTER_GAIN = 1 / 16  # RFC 3550 A.8


def rfc3550_jitter_series_ms(send_ns: np.ndarray, recv_ns: np.ndarray) -> np.ndarray:
    """RFC 3550 A.8's running estimate, J += (|D| - J) / 16, after each packet (arrival order)."""
    out = np.empty(max(0, len(send_ns) - 1))
    jitter = 0.0
    for k, d in enumerate(np.abs(np.diff((recv_ns - send_ns).astype(np.int64))).tolist()):
        jitter += (d - jitter) * JITTER_GAIN
        out[k] = jitter
    return out / 1e6


def rfc3550_jitter_ms(send_ns: np.ndarray, recv_ns: np.ndarray) -> float:
    """RFC 3550 jitter as RTCP reports it: the running estimate's value after the last packet."""
    series = rfc3550_jitter_series_ms(send_ns, recv_ns)
    return float(series[-1]) if series.size else 0.0


def mean_jitter_ms(send_ns: np.ndarray, recv_ns: np.ndarray) -> float:
    """RFC 3550 jitter averaged over a call: the running estimate's mean over every packet.

    The estimate's time constant is 16 packets (0.32 s at 50 pps), so its value at the end
    of a call describes only the call's last fraction of a second: measured in the testbed
    VM through `delay 50ms 10ms distribution normal`, the final value of a 30 s call ranged
    from 7.9 to 12.0 ms over eight calls, the average from 10.8 to 11.9 ms, against
    2 sd / sqrt(pi) = 10.8-11.9 ms from each call's own delays (benchmarks/jitter_fidelity.py).
    """
    series = rfc3550_jitter_series_ms(send_ns, recv_ns)
    return float(series.mean()) if series.size else 0.0


@dataclass(frozen=True)
class Arrivals:
    duplicates: int
    reordered: int  # arrived after a packet with a higher sequence number (RFC 4737)


def arrivals(received_seq: np.ndarray) -> Arrivals:
    seen: set[int] = set()
    duplicates = reordered = 0
    highest = -1
    for seq in received_seq.tolist():
        if seq in seen:
            duplicates += 1
            continue
        seen.add(seq)
        if seq < highest:
            reordered += 1
        highest = max(highest, seq)
    return Arrivals(duplicates, reordered)


@dataclass(frozen=True)
class JitterBuffer:
    kind: str  # "fixed" or "adaptive"
    discarded: np.ndarray  # per sent packet: arrived, but after its playout time
    mean_buffer_delay_ms: float  # time played packets waited in the buffer
    mean_playout_delay_ms: float  # send to playout, for played packets
    playout_ns: np.ndarray  # per sent packet: when its frame is due to play (lost ones too)

    @property
    def discard_percent(self) -> float:
        return 100.0 * np.count_nonzero(self.discarded) / self.discarded.size if self.discarded.size else 0.0


def _first_arrivals(sent_count: int, seq: np.ndarray, recv_ns: np.ndarray) -> np.ndarray:
    """Arrival time per sent sequence number (first copy), -1 where it never came."""
    arrival = np.full(sent_count, -1, dtype=np.int64)
    for s, t in zip(seq.tolist(), recv_ns.tolist(), strict=True):
        if s < sent_count and arrival[s] < 0:
            arrival[s] = t
    return arrival


def _empty(kind: str, sent_count: int, send_ns: np.ndarray) -> JitterBuffer:
    return JitterBuffer(kind, np.zeros(sent_count, bool), 0.0, 0.0, send_ns.astype(np.int64))


def fixed_buffer(send_ns: np.ndarray, seq: np.ndarray, recv_ns: np.ndarray, buffer_ms: float) -> JitterBuffer:
    """A fixed buffer of `buffer_ms`: playout = send time + the first packet's delay + buffer.
    A packet arriving after its playout time is discarded (it counts as lost for Ppl)."""
    arrival = _first_arrivals(send_ns.size, seq, recv_ns)
    got = arrival >= 0
    if not got.any():
        return _empty("fixed", send_ns.size, send_ns)
    first = int(np.flatnonzero(got)[0])
    base = arrival[first] - send_ns[first]
    playout = send_ns.astype(np.int64) + base + int(buffer_ms * 1e6)
    late = got & (arrival > playout)
    played = got & ~late
    return JitterBuffer("fixed", late, float((playout[played] - arrival[played]).mean() / 1e6),
                        float((playout[played] - send_ns[played]).mean() / 1e6), playout)


def adaptive_buffer(send_ns: np.ndarray, seq: np.ndarray, recv_ns: np.ndarray, frame_ms: float = 20.0,
                    window: int = 50, quantile: float = 95.0, margin_ms: float = 2.0) -> JitterBuffer:
    """A buffer that follows the network: each packet's playout delay is the 95th percentile
    of the delays of the last `window` packets (one second at 50 pps) plus a small margin,
    as NetEQ-like buffers aim for, and never less than one frame over the least delay seen
    so far: a real buffer holds at least one packet (NetEQ's smallest target), so the
    scheduling noise of a clean path (a packet now and then a few ms slower than the rest)
    is played, not discarded. It trades discards for delay as jitter changes. A frame whose
    packet never came is due when the last packet before it set (for concealment and FEC)."""
    arrival = _first_arrivals(send_ns.size, seq, recv_ns)
    got = arrival >= 0
    if not got.any():
        return _empty("adaptive", send_ns.size, send_ns)
    delays = (arrival - send_ns).astype(float)
    order = np.flatnonzero(got)  # received frames, in sending order: each sees those before it
    seen = delays[order]
    least = np.minimum.accumulate(seen)
    targets_seen = np.maximum(_recent_quantile(seen, window, quantile) + margin_ms * 1e6,
                              least + frame_ms * 1e6)
    targets = np.full(send_ns.size, np.nan)
    targets[order] = targets_seen
    discarded = np.zeros(send_ns.size, bool)
    discarded[order] = seen > targets_seen
    kept = ~discarded[order]
    waited, playout_delays = (targets_seen - seen)[kept], targets_seen[kept]
    # frames that never came: the target in force, carried forward (backward before the first)
    known = np.flatnonzero(~np.isnan(targets))
    before = np.searchsorted(known, np.arange(send_ns.size), side="right") - 1
    carried = targets[known][np.clip(before, 0, None)]
    playout = send_ns.astype(np.int64) + carried.astype(np.int64)
    return JitterBuffer("adaptive", discarded, float(np.mean(waited) / 1e6) if waited.size else 0.0,
                        float(np.mean(playout_delays) / 1e6) if playout_delays.size else 0.0, playout)


def _recent_quantile(values: np.ndarray, window: int, quantile: float) -> np.ndarray:
    """Per element, the `quantile` percentile of the up to `window` values before it (-inf for
    the first, which has none: any floor wins), as np.percentile computes it (linear): one
    vectorised percentile per full window and one sort for the windows still filling (a
    percentile per packet took most of a call's analysis, 20-30 s per phase in the emulated
    VM; one per filling window, 0.2 s per call direction there)."""
    out = np.full(values.size, -np.inf)
    filling = min(window, values.size) - 1  # windows of 1 .. filling values
    if filling > 0:
        counts = np.arange(1, filling + 1)
        rows = np.where(np.arange(filling)[None, :] < counts[:, None], values[None, :filling], np.inf)
        rows.sort(axis=1)  # each row: its window's values in order, then inf
        out[1:filling + 1] = _linear_percentile(rows, counts, quantile)
    if values.size > window:
        full = np.lib.stride_tricks.sliding_window_view(values[:-1], window)
        out[window:] = np.percentile(full, quantile, axis=1)
    return out


def _linear_percentile(rows: np.ndarray, counts: np.ndarray, quantile: float) -> np.ndarray:
    """np.percentile's linear method over the first counts[i] values of each sorted row,
    computed as numpy computes it (its lerp, from the upper end past the midpoint)."""
    position = (counts - 1) * (quantile / 100)
    below = np.floor(position).astype(int)
    above = np.minimum(below + 1, counts - 1)
    pick = np.arange(rows.shape[0])
    low, high = rows[pick, below], rows[pick, above]
    t = position - below
    step = high - low
    return np.where(t >= 0.5, high - step * (1 - t), low + step * t)
