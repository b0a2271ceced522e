"""`ping`: ICMP echo with the system's ping (iputils): round-trip time and loss, the first
thing anyone measures on a path."""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field

from testbed.errors import WorkloadFailed
from testbed.kernel import netns
from testbed.profile.types import Duration
from testbed.scenario.workloads.base import Metric, Metrics, PhaseContext, TwoNodes

SUMMARY = re.compile(r"(\d+) packets transmitted, (\d+) received")
RTT = re.compile(r"= [\d.]+/([\d.]+)/([\d.]+)/")  # rtt min/avg/max/mdev = ...
REPLY_WAIT_S = 2  # how long ping waits for the last reply (-W)


class Ping(TwoNodes):
    type: Literal["ping"]
    name: str = "ping"
    interval: Duration("10ms") = Field(200_000_000, description="time between echo requests")
    size: int = Field(56, ge=0, le=65507, description="ICMP payload bytes (ping -s)")

    METRICS: ClassVar[tuple[Metric, ...]] = (
        Metric("rtt", "ms", "mean round-trip time of the echoes answered"),
        Metric("rtt_max", "ms", "longest round-trip time"),
        Metric("loss", "%", "echo requests without a reply"),
    )

    def run_phase(self, ctx: PhaseContext) -> Metrics:
        count = max(1, int(ctx.seconds * 1e9 // self.interval))
        argv = ["ping", "-n", "-q", "-c", str(count), "-i", f"{self.interval / 1e9:g}", "-s", str(self.size),
                "-W", str(REPLY_WAIT_S), ctx.endpoint(self.server).address()]
        result = netns.run(ctx.endpoint(self.client).netns, argv, check=False,
                           timeout=ctx.seconds + REPLY_WAIT_S + 30)
        if result.returncode not in (0, 1):  # 1: some echoes went unanswered, which we measure
            raise WorkloadFailed(f"ping failed (exit {result.returncode}): {result.stderr.strip()}")
        return parse_summary(result.stdout)


def parse_summary(text: str) -> Metrics:
    """The figures of ping's closing summary (-q)."""
    counts = SUMMARY.search(text)
    if counts is None:
        raise WorkloadFailed(f"ping printed no summary: {text.strip()[-200:]!r}")
    sent, received = int(counts[1]), int(counts[2])
    rtt = RTT.search(text)
    nan = float("nan")
    return {"rtt": float(rtt[1]) if rtt else nan, "rtt_max": float(rtt[2]) if rtt else nan,
            "loss": 100.0 * (sent - received) / sent if sent else nan}
