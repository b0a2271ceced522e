"""Call metrics against independent references: G.107 check values, hand-built RFC 3550
traces, and Gilbert-Elliott estimates on generated Markov sequences."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.measure import emodel
from testbed.measure.call import stream_metrics
from testbed.measure.loss import burst_gap, gilbert_elliott, loss_runs, loss_stats
from testbed.measure.timing import adaptive_buffer, arrivals, fixed_buffer, rfc3550_jitter_ms
from testbed.measure.trace import RECV_DTYPE, SENT_DTYPE, StreamTrace, load_traces, save_traces


def test_emodel_defaults_give_93_2_and_4_41() -> None:
    r = emodel.rating()
    assert r == pytest.approx(93.2, abs=0.05)
    assert emodel.mos(r) == pytest.approx(4.41, abs=0.005)


def test_emodel_g711_plc_two_percent_random_loss() -> None:
    r = emodel.rating(replace(emodel.Parameters(), ie=0, bpl=25.1, ppl=2.0, burst_r=1.0))
    assert r == pytest.approx(86.2, abs=0.05)
    assert emodel.mos(r) == pytest.approx(4.23, abs=0.01)


def test_burstiness_and_delay_lower_r() -> None:
    g711 = emodel.CODECS["g711"]
    random = emodel.call_quality(g711, 5.0, 1.0, 20.0)
    bursty = emodel.call_quality(g711, 5.0, 3.0, 20.0)
    assert bursty.r_lq < random.r_lq
    far = emodel.call_quality(g711, 0.0, 1.0, 300.0)
    assert far.r_lq == pytest.approx(emodel.call_quality(g711, 0.0, 1.0, 0.0).r_lq)  # LQ ignores delay
    assert far.r_cq < far.r_lq - 15


def test_idd_is_zero_up_to_100ms_and_matches_the_formula_beyond() -> None:
    p = emodel.Parameters()
    no, ro = emodel._noise(p)
    base = emodel.delay_impairment(p, ro, no)
    assert emodel.delay_impairment(replace(p, ta=100), ro, no) == pytest.approx(base)
    x = np.log2(400 / 100)
    idd = 25 * ((1 + x**6) ** (1 / 6) - 3 * (1 + (x / 3) ** 6) ** (1 / 6) + 2)
    assert emodel.delay_impairment(replace(p, ta=400), ro, no) - base == pytest.approx(idd)


@pytest.mark.parametrize("r,expected", [(0, 1.0), (-5, 1.0), (100, 4.5), (50, 1 + 1.75 + 7e-6 * 50 * -10 * 50)])
def test_mos_mapping(r, expected) -> None:
    assert emodel.mos(r) == pytest.approx(expected)


def test_rfc3550_jitter_by_hand() -> None:
    ms = 1_000_000
    send = np.array([0, 20, 40, 60]) * ms
    assert rfc3550_jitter_ms(send, send + 50 * ms) == 0.0
    recv = send + np.array([50, 60, 50, 60]) * ms  # transit changes by 10 ms each time
    j1 = 10 / 16
    j2 = j1 + (10 - j1) / 16
    j3 = j2 + (10 - j2) / 16
    assert rfc3550_jitter_ms(send, recv) == pytest.approx(j3)


def test_loss_runs_and_bursts_by_hand() -> None:
    lost = np.array([0, 1, 1, 0, 0, 1, 0, 0, 0] + [0] * 20 + [1] + [0] * 20, bool)
    assert loss_runs(lost).tolist() == [2, 1, 1]
    density, gap_density, burst_ms, gap_ms = burst_gap(lost, 20.0, gmin=16)
    # one burst: packets 1..5 (3 lost of 5); the loss at 29 is isolated, in the gap
    assert density == pytest.approx(3 / 5)
    assert gap_density == pytest.approx(1 / (lost.size - 5))
    assert burst_ms == pytest.approx(5 * 20.0)


def _markov(p: float, q: float, n: int, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n, bool)
    state = False
    draws = rng.random(n)
    for i in range(n):
        state = (draws[i] < p) if not state else (draws[i] >= q)
        out[i] = state
    return out


@settings(max_examples=25, deadline=None)
@given(p=st.floats(0.01, 0.3), q=st.floats(0.1, 0.9), seed=st.integers(0, 2**32 - 1))
def test_gilbert_elliott_estimates_recover_the_chain(p, q, seed) -> None:
    n = 20_000
    lost = _markov(p, q, n, np.random.default_rng(seed))
    p_hat, q_hat = gilbert_elliott(lost)
    stationary_lost = p / (p + q)
    # binomial standard errors of each transition estimate, at 4.5 sigma
    se_p = np.sqrt(p * (1 - p) / (n * (1 - stationary_lost)))
    se_q = np.sqrt(q * (1 - q) / (n * stationary_lost))
    assert abs(p_hat - p) < 4.5 * se_p
    assert abs(q_hat - q) < 4.5 * se_q
    stats = loss_stats(lost, 20.0)
    assert stats.burst_r == pytest.approx(1 / (p_hat + q_hat))


def test_random_loss_has_burst_r_near_one() -> None:
    lost = np.random.default_rng(1).random(50_000) < 0.05
    stats = loss_stats(lost, 20.0)
    assert stats.loss_percent == pytest.approx(5.0, abs=0.3)
    assert stats.burst_r == pytest.approx(1.0, abs=0.05)


def test_duplicates_and_reordering() -> None:
    result = arrivals(np.array([0, 1, 3, 2, 3, 4, 4, 5]))
    assert (result.duplicates, result.reordered) == (2, 1)


def test_fixed_buffer_discards_late_packets() -> None:
    ms = 1_000_000
    send = np.arange(5) * 20 * ms
    delays = np.array([50, 55, 120, 60, 200]) * ms  # first packet sets the base: 50 ms
    jb = fixed_buffer(send, np.arange(5), send + delays, buffer_ms=60)
    assert jb.discarded.tolist() == [False, False, True, False, True]
    assert jb.mean_buffer_delay_ms == pytest.approx(np.mean([60, 55, 50]))


def test_adaptive_buffer_trades_discards_for_delay() -> None:
    ms = 1_000_000
    rng = np.random.default_rng(7)
    send = np.arange(2000) * 20 * ms
    delays = (50 + rng.normal(0, 10, 2000).clip(-40, None)) * ms
    jb = adaptive_buffer(send, np.arange(2000), send + delays.astype(np.int64))
    assert 1.0 < jb.discard_percent < 10.0  # about the 5 % above the 95th percentile
    assert 10 < jb.mean_buffer_delay_ms < 40
    fixed = fixed_buffer(send, np.arange(2000), send + delays.astype(np.int64), buffer_ms=5)
    assert fixed.discard_percent > jb.discard_percent


def _synthetic(loss: float, n: int = 3000, seed: int = 3) -> StreamTrace:
    rng = np.random.default_rng(seed)
    sent = np.zeros(n, SENT_DTYPE)
    sent["seq"] = np.arange(n)
    sent["send_ns"] = np.arange(n) * 20_000_000
    sent["size"] = 172
    keep = rng.random(n) >= loss
    rx = np.zeros(int(keep.sum()), RECV_DTYPE)
    rx["seq"], rx["send_ns"], rx["size"] = sent["seq"][keep], sent["send_ns"][keep], 172
    rx["recv_ns"] = rx["send_ns"] + 40_000_000
    return StreamTrace(0, "uplink", 20.0, sent, rx)


def test_stream_metrics_and_mos_falls_with_loss(tmp_path: Path) -> None:
    g711 = emodel.CODECS["g711"]
    clean, lossy = stream_metrics(_synthetic(0.0), g711), stream_metrics(_synthetic(0.1), g711)
    assert clean.network_loss.loss_percent == 0 and clean.delay.mean_ms == pytest.approx(40.0)
    assert clean.quality.mos_lq == pytest.approx(4.41, abs=0.01)
    trace = _synthetic(0.1)
    assert lossy.network_loss.loss_percent == pytest.approx(100 * (1 - trace.received.size / trace.sent.size))
    assert lossy.quality.mos_lq < clean.quality.mos_lq - 1
    assert len(clean.per_second) == 60 and all(s.loss_percent == 0 for s in clean.per_second)
    path = tmp_path / "traces.npz"
    save_traces(path, [_synthetic(0.1)])
    again = load_traces(path)[0]
    assert stream_metrics(again, g711) == lossy
