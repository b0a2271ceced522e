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
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from testbed.measure.emodel import CODECS
from testbed.profile.model import NAME_PATTERN, PROFILE_NAME_PATTERN
from testbed.profile.types import BitsPerSecond, Bytes, HexBytes, Nanoseconds
from testbed.topology.model import TopologySpec

CHECK = re.compile(r"^\s*([a-z][a-z0-9_-]*)\.([a-z_0-9]+)\s*(<=|>=|==|!=|<|>)\s*(-?[0-9]+(?:\.[0-9]+)?)\s*$")

CENSOR = "censor"  # expectations on the censor itself: `censor.apply_seconds < 1`

METRICS: dict[str, dict[str, str]] = {
    CENSOR: {"apply_seconds": "time to load the phase's profile into the kernel (or clear it), s"},
    "voip": {"mos_cq": "MOS-CQ (with delay), mean over call directions",
             "mos_lq": "MOS-LQ (without delay)", "loss": "effective loss %, lost + jitter-buffer discards",
             "network_loss": "loss % on the wire", "burst_r": "BurstR", "delay": "mean one-way delay, ms",
             "jitter": "RFC 3550 jitter, ms", "delivered": "share of packets that arrived (0-1)"},
    "chat": {"delivered": "share of messages acknowledged within the deadline (0-1)",
             "latency_p50": "ms", "latency_p95": "ms"},
    "iperf3": {"mbit": "received Mbit/s", "loss": "loss % (UDP)", "jitter": "ms (UDP)"},
    "command": {"exit_code": "the program's exit code"},
    "download": {"connected": "1 if the TCP connection opened, else 0",
                 "bytes": "bytes that reached the receiving side",
                 "stalled": "1 if the transfer stopped moving (no byte for idle_timeout) before its end",
                 "kbit": "mean rate from first to last byte, kbit/s",
                 "kbit_steady": "mean rate over the second half of the transfer, kbit/s"},
    "probe": {"received": "datagrams that arrived", "delivered": "share of datagrams that arrived (0-1)",
              "first_received": "1 if the opening datagram arrived"},
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Schedule(Strict):
    at: Nanoseconds = Field(description="offset into the phase")
    profile: str | None = Field(None, description="a name from `profiles`, or none for a clean path")


class Phase(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    duration: Nanoseconds
    profile: str | None = None
    schedule: list[Schedule] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Phase:
        if self.duration < 1_000_000_000:
            raise ValueError("a phase lasts at least 1s")
        if self.schedule is not None:
            if self.profile is not None:
                raise ValueError("give profile or schedule, not both")
            offsets = [s.at for s in self.schedule]
            if not offsets or offsets[0] != 0:
                raise ValueError("a schedule starts at 0s")
            if offsets != sorted(set(offsets)) or offsets[-1] >= self.duration:
                raise ValueError("schedule offsets must increase and stay within the phase")
        return self


class InPhases(Strict):
    phases: list[str] | None = Field(None, description="run only in these phases (default: every phase)")


class Voip(InPhases):
    type: Literal["voip"]
    name: str = Field("voip", pattern=NAME_PATTERN)
    codec: str = "g711"
    calls: int = Field(1, ge=1, le=1000)
    port: int = Field(40000, ge=1, le=65535)
    stun: bool = Field(False, description="frame media in STUN, as WhatsApp's relays")
    reflector: bool = Field(False, description="frame media as Telegram's legacy reflectors")
    dtx: bool = False
    caller: str = "caller"
    callee: str = "callee"

    @field_validator("codec")
    @classmethod
    def _codec(cls, value: str) -> str:
        if value not in CODECS:
            raise ValueError(f"unknown codec {value!r}; use one of {', '.join(CODECS)}")
        return value

    @model_validator(mode="after")
    def _one_framing(self) -> Voip:
        if self.stun and self.reflector:
            raise ValueError("choose stun or reflector framing, not both")
        return self

    @property
    def framing(self) -> str:
        return "stun" if self.stun else "reflector" if self.reflector else "rtp"


class Chat(InPhases):
    type: Literal["chat"]
    name: str = Field("chat", pattern=NAME_PATTERN)
    interval: Nanoseconds = 200_000_000
    size: Bytes = 200
    deadline: Nanoseconds = 5_000_000_000
    port: int = Field(5222, ge=1, le=65535)
    sender: str = "caller"
    receiver: str = "callee"


class Iperf(InPhases):
    type: Literal["iperf3"]
    name: str = Field("iperf3", pattern=NAME_PATTERN)
    protocol: Literal["tcp", "udp"] = "tcp"
    rate: BitsPerSecond | None = Field(None, description="UDP only")
    length: Bytes | None = None
    reverse: bool = False
    port: int = Field(5201, ge=1, le=65535)
    client: str = "caller"
    server: str = "callee"

    @model_validator(mode="after")
    def _udp_rate(self) -> Iperf:
        if self.protocol == "udp" and self.rate is None:
            raise ValueError("a UDP iperf3 workload needs a rate, e.g. 68.8kbit")
        if self.protocol == "tcp" and self.rate is not None:
            raise ValueError("rate is for UDP; TCP finds its own")
        return self


class Download(InPhases):
    """A bulk TCP transfer between client (inside) and server (outside) that notices stalls."""

    type: Literal["download"]
    name: str = Field("download", pattern=NAME_PATTERN)
    direction: Literal["down", "up"] = Field("down", description="down: server to client")
    size: Bytes | None = Field(None, description="stop after this much; default: run the whole phase")
    idle_timeout: Nanoseconds = Field(2_000_000_000, description="no byte for this long: stalled")
    port: int = Field(8080, ge=1, le=65535)
    client: str = "caller"
    server: str = "callee"


class ProbeFirst(Strict):
    size: Bytes = Field(ge=4, le=65507)
    prefix: HexBytes = ""


class Probe(InPhases):
    """UDP datagrams with chosen bytes (one flow), counted at the receiver."""

    type: Literal["probe"]
    name: str = Field("probe", pattern=NAME_PATTERN)
    port: int = Field(443, ge=1, le=65535)
    src_port: int = Field(0, ge=0, le=65535, description="0: any free port")
    size: Bytes = Field(1200, ge=4, le=65507, description="UDP payload bytes")
    prefix: HexBytes = Field("", description="the payload's first bytes")
    first: ProbeFirst | None = Field(None, description="a different opening datagram (a handshake)")
    count: int = Field(20, ge=1, le=100_000)
    interval: Nanoseconds = 50_000_000
    sender: str = "caller"
    receiver: str = "callee"

    @model_validator(mode="after")
    def _fits(self) -> Probe:
        packets = [(self.size, self.prefix, "")]
        if self.first:
            packets.append((self.first.size, self.first.prefix, "first."))
        for size, prefix, where in packets:
            if size < len(prefix) // 2 + 4:
                raise ValueError(f"{where}size {size} cannot hold the {len(prefix) // 2}-byte prefix and "
                                 "the 4-byte sequence number")
        return self


class Command(InPhases):
    """Bring your own app: any program run in a node during each phase."""

    type: Literal["command"]
    name: str = Field(pattern=NAME_PATTERN)
    node: str
    run: list[str] = Field(min_length=1, description="argv; no shell is involved")
    timeout: Nanoseconds | None = None


Workload = Annotated[Voip | Chat | Iperf | Download | Probe | Command,
                     Field(discriminator="type")]


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
