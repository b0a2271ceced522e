"""`chat`: small messages over one TCP connection, each acknowledged (a messenger's text)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from testbed.profile.types import Bytes, Duration
from testbed.scenario.workloads.base import Metric, Metrics, PhaseContext, TwoNodes
from testbed.traffic.chat import run_chat


class Chat(TwoNodes):
    type: Literal["chat"]
    name: str = "chat"
    interval: Duration("1ms") = Field(200_000_000, description="time between messages")
    size: Bytes = Field(200, description="message body")
    deadline: Duration("1ms") = Field(5_000_000_000,
                                  description="an acknowledgement later than this: not delivered")
    port: int = Field(5222, ge=1, le=65535, description="the server's TCP port (5222: XMPP)")

    RENAMED: ClassVar[dict[str, str]] = {"sender": "client", "receiver": "server"}
    METRICS: ClassVar[tuple[Metric, ...]] = (
        Metric("delivered", "0-1", "share of messages acknowledged within the deadline"),
        Metric("latency_p50", "ms", "median time from sending a message to its acknowledgement"),
        Metric("latency_p95", "ms", "95th percentile of that time"),
    )

    def run_phase(self, ctx: PhaseContext) -> Metrics:
        interval = self.interval / 1e9
        result = run_chat(ctx.endpoint(self.client), ctx.endpoint(self.server),
                          count=max(1, int(ctx.seconds / interval)), interval_s=interval, size=self.size,
                          deadline_s=self.deadline / 1e9, port=self.port)
        return {"delivered": result.delivery_ratio, "latency_p50": result.latency_p50_ms,
                "latency_p95": result.latency_p95_ms}
