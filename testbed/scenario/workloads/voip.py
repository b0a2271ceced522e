"""`voip`: N bidirectional VoIP-like calls (RTP paced per codec), scored per direction with
the jitter buffers and the G.107 E-model, averaged over the call directions."""

from __future__ import annotations

import math
import statistics
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from testbed.measure.call import StreamMetrics, stream_metrics
from testbed.measure.emodel import CODECS
from testbed.measure.trace import StreamTrace, save_traces
from testbed.profile.types import FieldError
from testbed.scenario.workloads.base import Metric, Metrics, PhaseContext, TwoNodes
from testbed.traffic.calls import run_calls


class Voip(TwoNodes):
    type: Literal["voip"]
    name: str = "voip"
    codec: str = Field("g711", description="g711, g711-noplc, g729, opus-webrtc or opus-telegram")
    calls: int = Field(1, ge=1, le=1000, description="concurrent bidirectional calls")
    port: int = Field(40000, ge=1, le=65535, description="UDP port of the media at both ends")
    stun: bool = Field(False, description="frame media in STUN, as WhatsApp's relays")
    reflector: bool = Field(False, description="frame media as Telegram's legacy reflectors")
    dtx: bool = Field(False, description="silence suppression (ITU-T P.59 talkspurts)")

    RENAMED: ClassVar[dict[str, str]] = {"caller": "client", "callee": "server"}
    METRICS: ClassVar[tuple[Metric, ...]] = (
        Metric("mos_cq", "MOS 1-5", "E-model MOS with the mouth-to-ear delay (conversational)"),
        Metric("mos_lq", "MOS 1-5", "E-model MOS without delay (listening)"),
        Metric("loss", "%", "packets lost on the wire or discarded late by the jitter buffer"),
        Metric("network_loss", "%", "packets lost on the wire"),
        Metric("burst_r", "", "BurstR: 1 for random loss, above 1 for bursts"),
        Metric("delay", "ms", "mean one-way network delay"),
        Metric("jitter", "ms", "RFC 3550 interarrival jitter, averaged over the call"),
        Metric("delivered", "0-1", "share of packets that arrived"),
    )

    @field_validator("codec")
    @classmethod
    def _codec(cls, value: str) -> str:
        if value not in CODECS:
            raise ValueError(f"unknown codec {value!r}; use one of {', '.join(CODECS)}")
        return value

    @model_validator(mode="after")
    def _one_framing(self) -> Voip:
        if self.stun and self.reflector:
            raise FieldError("reflector", "choose stun or reflector framing, not both")
        return self

    @property
    def framing(self) -> str:
        return "stun" if self.stun else "reflector" if self.reflector else "rtp"

    def run_phase(self, ctx: PhaseContext) -> Metrics:
        result = run_calls(ctx.endpoint(self.client), ctx.endpoint(self.server), self.codec, calls=self.calls,
                           seconds=ctx.seconds, port=self.port, framing=self.framing, dtx=self.dtx)
        if ctx.keep_traces:
            save_traces(ctx.artefact(self.name, ".npz"), result.traces)
        return summarise(result.traces, [stream_metrics(t, CODECS[self.codec]) for t in result.traces])


def summarise(traces: list[StreamTrace], metrics: list[StreamMetrics]) -> Metrics:
    """The means over call directions that expectations check."""
    sent = sum(t.sent.size for t in traces)
    received = sum(len({int(s) for s in t.received["seq"]}) for t in traces)
    mean = statistics.fmean
    delays = [m.delay.mean_ms for m in metrics if not math.isnan(m.delay.mean_ms)]
    return {
        "mos_cq": mean(m.quality.mos_cq for m in metrics), "mos_lq": mean(m.quality.mos_lq for m in metrics),
        "loss": mean(m.effective_loss.loss_percent for m in metrics),
        "network_loss": mean(m.network_loss.loss_percent for m in metrics),
        "burst_r": mean(m.network_loss.burst_r for m in metrics),
        "delay": mean(delays) if delays else math.nan,
        "jitter": mean(m.jitter_ms for m in metrics), "delivered": received / sent if sent else 0.0,
    }
