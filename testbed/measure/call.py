"""All metrics of one call direction, from its trace: the harness's one pure entry point."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from testbed.measure.emodel import CallQuality, Codec, call_quality
from testbed.measure.loss import LossStats, loss_stats
from testbed.measure.timing import (
    Arrivals,
    DelayStats,
    JitterBuffer,
    adaptive_buffer,
    arrivals,
    delay_stats,
    fixed_buffer,
    mean_jitter_ms,
    rfc3550_jitter_ms,
    rfc3550_jitter_series_ms,
)
from testbed.measure.trace import StreamTrace

FIXED_BUFFER_MS = 60.0


@dataclass(frozen=True)
class SecondStats:
    second: int
    sent: int
    loss_percent: float
    jitter_ms: float
    mos_lq: float
    mos_cq: float  # with the call's mouth-to-ear delay, as the expectations' voip.mos_cq


@dataclass(frozen=True)
class StreamMetrics:
    call: int
    direction: str
    codec: str
    network_loss: LossStats  # never arrived
    effective_loss: LossStats  # never arrived, or discarded by the adaptive jitter buffer
    delay: DelayStats
    jitter_ms: float  # RFC 3550, averaged over the call
    jitter_last_ms: float  # RFC 3550 after the last packet, as RTCP would report it
    arrivals: Arrivals
    fixed_buffer_ms: float
    fixed_discard_percent: float
    fixed_buffer_delay_ms: float
    adaptive_discard_percent: float
    adaptive_buffer_delay_ms: float
    quality: CallQuality  # from effective loss and the adaptive buffer's delay
    per_second: list[SecondStats]

    def to_dict(self) -> dict:
        return asdict(self)


def _buffers(trace: StreamTrace) -> tuple[JitterBuffer, JitterBuffer]:
    rx = trace.received
    return (fixed_buffer(trace.sent["send_ns"], rx["seq"], rx["recv_ns"], FIXED_BUFFER_MS),
            adaptive_buffer(trace.sent["send_ns"], rx["seq"], rx["recv_ns"], trace.frame_ms))


def stream_metrics(trace: StreamTrace, codec: Codec) -> StreamMetrics:
    sent, rx = trace.sent, trace.received
    n = sent.size
    arrived = np.zeros(n, bool)
    valid = rx["seq"] < n
    arrived[rx["seq"][valid]] = True
    lost = ~arrived
    fixed, adaptive = _buffers(trace)
    effective = lost | adaptive.discarded
    first = np.unique(rx["seq"][valid], return_index=True)[1]
    delays = (rx["recv_ns"] - rx["send_ns"])[valid][first]
    network_loss = loss_stats(lost, trace.frame_ms)
    effective_loss = loss_stats(effective, trace.frame_ms)
    delay = delay_stats(delays)
    quality = call_quality(codec, effective_loss.loss_percent, effective_loss.burst_r,
                           delay.mean_ms if delays.size else 0.0, adaptive.mean_buffer_delay_ms)
    return StreamMetrics(
        call=trace.call, direction=trace.direction, codec=codec.name,
        network_loss=network_loss, effective_loss=effective_loss, delay=delay,
        jitter_ms=mean_jitter_ms(rx["send_ns"], rx["recv_ns"]),
        jitter_last_ms=rfc3550_jitter_ms(rx["send_ns"], rx["recv_ns"]),
        arrivals=arrivals(rx["seq"]),
        fixed_buffer_ms=FIXED_BUFFER_MS, fixed_discard_percent=fixed.discard_percent,
        fixed_buffer_delay_ms=fixed.mean_buffer_delay_ms,
        adaptive_discard_percent=adaptive.discard_percent,
        adaptive_buffer_delay_ms=adaptive.mean_buffer_delay_ms,
        quality=quality,
        per_second=per_second(trace, codec, effective, effective_loss.burst_r, quality.mouth_to_ear_ms),
    )


def per_second(trace: StreamTrace, codec: Codec, effective_lost: np.ndarray, burst_r: float,
               mouth_to_ear_ms: float) -> list[SecondStats]:
    """Loss, RFC 3550 jitter and MOS per second of sending time (for plots)."""
    sent = trace.sent
    if sent.size == 0:
        return []
    second_of = (sent["send_ns"] - sent["send_ns"][0]) // 1_000_000_000
    rx = trace.received
    rx_second = (rx["send_ns"][1:] - sent["send_ns"][0]) // 1_000_000_000
    running = rfc3550_jitter_series_ms(rx["send_ns"], rx["recv_ns"])  # one estimate across the call
    out = []
    for second in range(int(second_of.max()) + 1):
        mask = second_of == second
        loss = 100.0 * np.count_nonzero(effective_lost[mask]) / max(1, np.count_nonzero(mask))
        in_second = running[rx_second == second]
        jitter = float(in_second.mean()) if in_second.size else 0.0
        quality = call_quality(codec, loss, burst_r, mouth_to_ear_ms - codec.algorithmic_delay_ms)
        out.append(SecondStats(second, int(np.count_nonzero(mask)), loss, jitter, quality.mos_lq,
                               quality.mos_cq))
    return out
