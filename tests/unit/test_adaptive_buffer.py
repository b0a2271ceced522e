"""The adaptive jitter buffer, computed with one vectorised percentile per window, decides
every frame exactly as the per-packet definition in its docstring does (kept here as the
oracle), on random paths: reordering, loss, duplicates and delay spikes."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.measure.timing import _first_arrivals, adaptive_buffer


def oracle(send_ns, seq, recv_ns, frame_ms=20.0, window=50, quantile=95.0, margin_ms=2.0):
    """The buffer as first written: a percentile of the last `window` delays per packet."""
    arrival = _first_arrivals(send_ns.size, seq, recv_ns)
    got = arrival >= 0
    discarded = np.zeros(send_ns.size, bool)
    delays = (arrival - send_ns).astype(float)
    targets = np.full(send_ns.size, np.nan)
    recent: list[float] = []
    waited, playout_delays = [], []
    least = np.inf
    for i in np.flatnonzero(got).tolist():
        least = min(least, delays[i])
        target = max(np.percentile(recent, quantile) + margin_ms * 1e6 if recent else least,
                     least + frame_ms * 1e6)
        targets[i] = target
        if delays[i] > target:
            discarded[i] = True
        else:
            waited.append(target - delays[i])
            playout_delays.append(target)
        recent.append(delays[i])
        del recent[:-window]
    return discarded, targets, np.mean(waited) / 1e6, np.mean(playout_delays) / 1e6


@settings(max_examples=60, deadline=None)
@given(frames=st.integers(1, 400), seed=st.integers(0, 2**32 - 1), loss=st.floats(0, 0.9),
       spike_ms=st.sampled_from([0.0, 30.0, 300.0]), duplicates=st.booleans())
def test_the_vectorised_buffer_decides_as_the_per_packet_definition(frames, seed, loss, spike_ms,
                                                                    duplicates) -> None:
    rng = np.random.default_rng(seed)
    send_ns = np.arange(frames, dtype=np.int64) * 20_000_000
    delay_ns = (20 + rng.gamma(2.0, 3.0, frames) + spike_ms * (rng.random(frames) < 0.05)) * 1e6
    kept = np.flatnonzero(rng.random(frames) >= loss)
    if duplicates and kept.size:
        kept = np.sort(np.concatenate([kept, rng.choice(kept, kept.size // 10 + 1)]))
    recv_ns = (send_ns[kept] + delay_ns[kept]).astype(np.int64)
    by_arrival = np.argsort(recv_ns, kind="stable")
    seq, recv_ns = kept[by_arrival], recv_ns[by_arrival]
    buffer = adaptive_buffer(send_ns, seq, recv_ns)
    if not kept.size:
        assert not buffer.discarded.any()
        return
    discarded, targets, waited_ms, delay_ms = oracle(send_ns, seq, recv_ns)
    assert np.array_equal(buffer.discarded, discarded)
    assert np.isclose(buffer.mean_buffer_delay_ms, waited_ms, rtol=1e-12)
    assert np.isclose(buffer.mean_playout_delay_ms, delay_ms, rtol=1e-12)
    got = ~np.isnan(targets)
    assert np.array_equal(buffer.playout_ns[got], send_ns[got] + targets[got].astype(np.int64))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(0, 1e9, allow_nan=False), max_size=150), st.integers(1, 80),
       st.sampled_from([0.0, 50.0, 95.0, 99.9, 100.0]))
def test_recent_quantiles_are_np_percentile_of_each_window_to_the_bit(values, window, quantile) -> None:
    from testbed.measure.timing import _recent_quantile

    array = np.array(values, dtype=float)
    expected = [-np.inf] + [np.percentile(array[max(0, k - window):k], quantile) for k in range(1, array.size)]
    assert _recent_quantile(array, window, quantile).tolist() == expected[:array.size]
