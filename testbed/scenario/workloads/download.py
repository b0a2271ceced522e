"""`download`: a bulk TCP transfer that notices stalls (the 16 KB freeze, the Twitter throttle)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from testbed.profile.types import Bytes, Duration
from testbed.scenario.workloads.base import Metric, Metrics, PhaseContext, TwoNodes
from testbed.traffic.download import run_download


class Download(TwoNodes):
    """Data flows server -> client (`down`) or client -> server (`up`)."""

    type: Literal["download"]
    name: str = "download"
    direction: Literal["down", "up"] = Field("down", description="down: server to client")
    size: Bytes | None = Field(None, ge=1, description="stop after this much; default: run the whole phase")
    idle_timeout: Duration("100ms") = Field(2_000_000_000, description="no byte for this long: stalled")
    port: int = Field(8080, ge=1, le=65535)

    METRICS: ClassVar[tuple[Metric, ...]] = (
        Metric("connected", "0/1", "1 if the TCP connection opened"),
        Metric("bytes", "B", "bytes that reached the receiving side"),
        Metric("stalled", "0/1", "1 if the transfer stopped (no byte for idle_timeout) before its end"),
        Metric("kbit", "kbit/s", "mean rate from the first byte to the last"),
        Metric("kbit_steady", "kbit/s", "mean rate over the second half of the transfer"),
    )

    def run_phase(self, ctx: PhaseContext) -> Metrics:
        result = run_download(ctx.endpoint(self.client), ctx.endpoint(self.server), self.direction,
                              self.size or 0, ctx.seconds, self.idle_timeout / 1e9, self.port)
        return {"connected": float(result.connected), "bytes": float(result.bytes),
                "stalled": float(result.stalled), "kbit": result.kbit, "kbit_steady": result.kbit_steady}
