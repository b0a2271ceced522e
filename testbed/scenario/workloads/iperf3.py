"""`iperf3`: the real iperf3, TCP bulk or UDP at a fixed rate, for the phase's length."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from testbed.profile.types import BitsPerSecond, Bytes, FieldError
from testbed.scenario.workloads.base import MAX_UDP_PAYLOAD, Metric, Metrics, PhaseContext, TwoNodes
from testbed.traffic.iperf import IPERF_PORT, run_iperf


class Iperf(TwoNodes):
    type: Literal["iperf3"]
    name: str = "iperf3"
    protocol: Literal["tcp", "udp"] = "tcp"
    rate: BitsPerSecond | None = Field(None, description="UDP only: the sending rate")
    length: Bytes | None = Field(None, ge=1, le=1 << 20, description="bytes per write (UDP: per datagram)")
    reverse: bool = Field(False, description="the server sends (a download)")
    port: int = Field(IPERF_PORT, ge=1, le=65535)

    METRICS: ClassVar[tuple[Metric, ...]] = (
        Metric("mbit", "Mbit/s", "goodput at the receiver"),
        Metric("loss", "%", "datagrams lost (UDP)"),
        Metric("jitter", "ms", "iperf3's RFC 3550 jitter (UDP), averaged over its seconds"),
    )

    @model_validator(mode="after")
    def _udp_rate(self) -> Iperf:
        if self.protocol == "udp" and self.rate is None:
            raise FieldError("protocol", "a UDP iperf3 workload needs a rate, e.g. 68.8kbit")
        if self.protocol == "tcp" and self.rate is not None:
            raise FieldError("rate", "rate is for UDP; TCP finds its own")
        if self.protocol == "udp" and self.length is not None and self.length > MAX_UDP_PAYLOAD:
            raise FieldError("length", f"a UDP datagram carries at most {MAX_UDP_PAYLOAD} bytes (IPv4); "
                             f"length is {self.length}")
        return self

    def run_phase(self, ctx: PhaseContext) -> Metrics:
        result = run_iperf(ctx.endpoint(self.client), ctx.endpoint(self.server), ctx.seconds,
                           udp_rate_bps=self.rate, length=self.length, reverse=self.reverse, port=self.port)
        return {"mbit": result.received_bps / 1e6, "loss": result.lost_percent or 0.0,
                "jitter": result.jitter_mean_ms or result.jitter_ms or 0.0}
