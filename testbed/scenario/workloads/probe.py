"""`probe`: UDP datagrams with chosen sizes and leading bytes, counted where they arrive:
what a censor's payload and length rules see (QUIC Initials, VPN handshakes)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from testbed.profile.types import Bytes, Duration, FieldError, HexBytes, Strict
from testbed.scenario.workloads.base import MAX_UDP_PAYLOAD, Metric, Metrics, PhaseContext, TwoNodes
from testbed.traffic.probe import SEQ, run_probe


class ProbeFirst(Strict):
    size: Bytes = Field(ge=SEQ.size, le=MAX_UDP_PAYLOAD)
    prefix: HexBytes = ""


class Probe(TwoNodes):
    """One flow of datagrams (one source port) from the client to the server."""

    type: Literal["probe"]
    name: str = "probe"
    port: int = Field(443, ge=1, le=65535)
    src_port: int = Field(0, ge=0, le=65535, description="0: any free port")
    size: Bytes = Field(1200, ge=SEQ.size, le=MAX_UDP_PAYLOAD, description="UDP payload bytes")
    prefix: HexBytes = Field("", description="the payload's first bytes")
    first: ProbeFirst | None = Field(None, description="a different opening datagram (a handshake)")
    count: int = Field(20, ge=1, le=100_000)
    interval: Duration("1ms") = Field(50_000_000, description="time between datagrams")

    RENAMED: ClassVar[dict[str, str]] = {"sender": "client", "receiver": "server"}
    METRICS: ClassVar[tuple[Metric, ...]] = (
        Metric("received", "count", "datagrams that arrived"),
        Metric("delivered", "0-1", "share of datagrams that arrived"),
        Metric("first_received", "0/1", "1 if the opening datagram arrived"),
    )

    @model_validator(mode="after")
    def _fits(self) -> Probe:
        packets = [(self.size, self.prefix, ("size",))]
        if self.first:
            packets.append((self.first.size, self.first.prefix, ("first", "size")))
        for size, prefix, where in packets:
            if size < len(prefix) // 2 + SEQ.size:
                raise FieldError(where, f"size {size} cannot hold the {len(prefix) // 2}-byte prefix and "
                                 f"the {SEQ.size}-byte sequence number")
        return self

    def run_phase(self, ctx: PhaseContext) -> Metrics:
        first = (self.first.size, self.first.prefix) if self.first else None
        result = run_probe(ctx.endpoint(self.client), ctx.endpoint(self.server), self.port, self.src_port,
                           self.count, self.interval / 1e9, self.size, self.prefix, first)
        return {"received": float(result.received), "delivered": result.delivered,
                "first_received": float(result.first_received)}
