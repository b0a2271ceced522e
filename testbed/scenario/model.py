"""Scenario YAML: a topology, profiles, timed phases, workloads and expectations.

    name: ru-2025-calls
    title: Calls collapse while chat keeps working
    profiles: {restricted: ru-2025-calls-degraded}
    phases:
      - {name: baseline, duration: 10s}
      - {name: restricted, duration: 30s, profile: restricted}
      - {name: lifted, duration: 10s}
    workloads:
      - {type: voip, codec: g711, calls: 4}
      - {type: chat}
    expect:
      - {phase: restricted, check: "voip.mos_cq < 2.5"}
      - {phase: restricted, check: "chat.delivered >= 0.99"}
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from testbed.profile.types import (
    NAME_PATTERN,
    PROFILE_NAME_PATTERN,
    Duration,
    FieldError,
    Nanoseconds,
    Strict,
)
from testbed.scenario.workloads import Workload
from testbed.topology.model import TopologySpec

CHECK = re.compile(r"^\s*([a-z][a-z0-9_-]*)\.([a-z_0-9]+)\s*(<=|>=|==|!=|<|>)\s*(-?[0-9]+(?:\.[0-9]+)?)\s*$")



class Schedule(Strict):
    at: Nanoseconds = Field(description="offset into the phase")
    profile: str | None = Field(None, description="a name from `profiles`, or none for a clean path")


class Phase(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    duration: Duration("1s")
    profile: str | None = None
    schedule: list[Schedule] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _one_source(self) -> Phase:
        if self.schedule is not None:
            if self.profile is not None:
                raise FieldError("schedule", "give profile or schedule, not both")
            offsets = [s.at for s in self.schedule]
            if offsets[0] != 0:
                raise FieldError(("schedule", 0, "at"), "a schedule starts at 0s")
            for k in range(1, len(offsets)):
                if offsets[k] <= offsets[k - 1] or offsets[k] >= self.duration:
                    raise FieldError(("schedule", k, "at"), "schedule offsets must increase and stay within "
                                     "the phase")
        return self


class Expectation(Strict):
    phase: str
    check: str

    @field_validator("check")
    @classmethod
    def _check(cls, value: str) -> str:
        if not CHECK.match(value):
            raise ValueError(f"{value!r} is not WORKLOAD.METRIC OP NUMBER, e.g. 'voip.mos_cq < 2.5'")
        return value

    @property
    def parts(self) -> tuple[str, str, str, float]:
        found = CHECK.match(self.check)
        assert found is not None
        return found[1], found[2], found[3], float(found[4])


class Output(Strict):
    traces: bool = True
    plots: bool = True


HEADERS_SNAPLEN = 128  # bytes: the link, IP and TCP or UDP headers and a little more
# a ClientHello whole, even two segments forwarded as one GSO packet (Chromium's: 2,081 bytes)
WHOLE_SNAPLEN = 4096


class Capture(Strict):
    """Packet captures (tcpdump), a pcap per phase, host and interface, in the results'
    captures/ folder: to open in Wireshark. At most `packets` packets of `snaplen` bytes each
    (plus 16 bytes of pcap header a packet): 20,000 of 128 bytes is 2.9 MB a file. Where a
    profile of the scenario reads (tls_sni, ...), the first 4,096 bytes of each packet are
    kept by default, which hold any ClientHello whole, so that the capture shows what the
    reader decided on (20,000 of them: 82 MB at most)."""

    nodes: list[str] = Field(["censor"], min_length=1, description="hosts whose interfaces are captured "
                             "(censor: both sides of the border)")
    interfaces: list[str] | None = Field(None, min_length=1, description="only these interfaces (default: "
                                         "every interface of each host)")
    snaplen: int | None = Field(None, ge=64, le=65535, description=(
        f"bytes kept of each packet (default: {HEADERS_SNAPLEN}, the headers; {WHOLE_SNAPLEN}, ClientHellos "
        "whole, where a profile reads)"))

    def effective_snaplen(self, reads: bool) -> int:
        if self.snaplen is not None:
            return self.snaplen
        return WHOLE_SNAPLEN if reads else HEADERS_SNAPLEN
    packets: int = Field(20_000, ge=1, le=1_000_000, description="the cap: packets per file")


class Scenario(Strict):
    name: str = Field(pattern=PROFILE_NAME_PATTERN)
    title: str
    description: str = ""
    topology: TopologySpec = Field(default_factory=TopologySpec)
    profiles: dict[str, str] = Field(default_factory=dict, description="name -> catalog name or path")
    phases: list[Phase] = Field(min_length=1)
    workloads: list[Workload] = Field(min_length=1)
    repetitions: int = Field(1, ge=1, le=100)
    expect: list[Expectation] = Field(default_factory=list)
    output: Output = Field(default_factory=Output)
    capture: Capture | None = Field(None, description="packet captures per phase (off by default)")
