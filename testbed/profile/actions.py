"""What a censor does to a class's packets in one direction: netem, shaping, policing,
dropping, and the stateful parts (after, residual, flag)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from testbed.profile.types import (
    NAME_PATTERN,
    U32_MAX,
    BitsPerSecond,
    Bytes,
    Count,
    Duration,
    FieldError,
    Nanoseconds,
    Percent,
    Strict,
)
from testbed.profile.units import format_duration, format_rate


def _shorthand(key: str):
    """Let `loss: 5%` stand for `loss: {key: 5%}`."""

    def expand(value: Any) -> Any:
        return value if isinstance(value, dict) else {key: value}

    return BeforeValidator(expand)



class StateLoss(Strict):
    """netem's 4-state Markov model (GI); defaults as tc's `loss state P13`."""

    p13: Percent
    p31: Percent | None = None
    p32: Percent = 0.0
    p23: Percent = 100.0
    p14: Percent = 0.0


class GilbertElliott(Strict):
    """p: good->bad, r: bad->good; loss_in_bad is tc's `1-h`, loss_in_good its `1-k`."""

    p: Percent
    r: Percent = 100.0
    loss_in_bad: Percent = 100.0
    loss_in_good: Percent = 0.0


class Loss(Strict):
    random: Percent | None = None
    correlation: Percent | None = None
    state: StateLoss | None = None
    gemodel: GilbertElliott | None = None

    @model_validator(mode="after")
    def _one_model(self) -> Loss:
        chosen = [k for k in ("random", "state", "gemodel") if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise ValueError(
                "give exactly one loss model: random (e.g. 5%), state or gemodel"
                + (f"; got {', '.join(chosen)}" if chosen else "")
            )
        if self.correlation is not None and self.random is None:
            raise FieldError("correlation", "correlation goes with random loss only")
        return self


class Chance(Strict):
    percent: Percent
    correlation: Percent | None = None


class Reorder(Strict):
    percent: Percent
    correlation: Percent | None = None
    gap: Count | None = Field(None, description="send every gap-th packet at once")


class NetemRate(Strict):
    rate: BitsPerSecond
    packet_overhead: int = Field(0, ge=-1000, le=1000)
    cell_size: int = Field(0, ge=0, le=65535)
    cell_overhead: int = Field(0, ge=-1000, le=1000)


class Slot(Strict):
    """Deliver in bursts: packets wait for the next slot (Wi-Fi/LTE-like aggregation)."""

    min: Nanoseconds
    max: Nanoseconds | None = None
    packets: Count | None = None
    bytes: Bytes | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> Slot:
        if self.max is not None and self.max < self.min:
            raise FieldError("max", "slot max is below min")
        return self


Distribution = Literal["uniform", "normal", "pareto", "paretonormal"]


class Netem(Strict):
    delay: Duration("1us") | None = Field(None, description="added to every packet; leave it out for none")
    jitter: Duration("1us") | None = None
    distribution: Distribution | None = None
    delay_correlation: Percent | None = None
    loss: Annotated[Loss, _shorthand("random")] | None = None
    duplicate: Annotated[Chance, _shorthand("percent")] | None = None
    corrupt: Annotated[Chance, _shorthand("percent")] | None = None
    reorder: Annotated[Reorder, _shorthand("percent")] | None = None
    rate: Annotated[NetemRate, _shorthand("rate")] | None = None
    slot: Slot | None = None
    limit: Count | None = Field(None, description="queue limit, packets")
    ecn: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Netem:
        if self.jitter and not self.delay:
            raise FieldError("jitter", "jitter needs a delay (netem varies the delay around it)")
        if self.distribution not in (None, "uniform") and not self.jitter:
            raise FieldError("distribution", "a delay distribution needs jitter")
        if self.delay_correlation is not None and not self.jitter:
            raise FieldError("delay_correlation", "delay_correlation needs jitter")
        if self.reorder is not None and not self.delay:
            raise FieldError("reorder", "reorder needs a delay: netem reorders by sending some packets "
                             "at once")
        if self.ecn and self.loss is None:
            raise FieldError("ecn", "ecn marks instead of dropping: it needs a loss model")
        return self


class Shape(Strict):
    rate: BitsPerSecond
    ceil: BitsPerSecond | None = None
    burst: Bytes | None = Field(None, ge=1, description="default: 1 ms at the rate plus a frame")
    method: Literal["htb", "tbf"] = "htb"
    latency: Duration("1ms") | None = Field(None, description="tbf only: longest wait in the queue")

    @model_validator(mode="after")
    def _consistent(self) -> Shape:
        if self.ceil is not None and self.ceil < self.rate:
            raise FieldError("ceil", "ceil is below rate")
        if self.method == "tbf" and self.ceil is not None:
            raise FieldError("ceil", "ceil is an htb setting; tbf has only rate and burst")
        if self.method == "htb" and self.latency is not None:
            raise FieldError("latency", "latency is a tbf setting; set method: tbf")
        if self.method == "tbf" and self.latency is not None:
            queue = self.rate // 8 * self.latency // 1_000_000_000 + (self.burst or 0)
            if queue > U32_MAX:  # tbf's queue limit (struct tc_tbf_qopt.limit) is 32 bits of bytes
                raise FieldError("latency", f"latency {format_duration(self.latency)} at "
                                 f"{format_rate(self.rate)} queues {queue:,} bytes; tbf holds at most "
                                 f"{U32_MAX:,}")
        return self


class Police(Strict):
    rate: BitsPerSecond
    burst: Bytes
    per: Literal["aggregate", "flow"] = "aggregate"
    idle_timeout: Duration("1s") | None = Field(None, description="per-flow state is forgotten after")

    @field_validator("burst")
    @classmethod
    def _burst(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("burst must be above zero")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Police:
        if self.idle_timeout is not None and self.per != "flow":
            raise FieldError("idle_timeout", "idle_timeout applies to per: flow")
        return self


class After(Strict):
    """Act only once a connection has carried this much (conntrack counters)."""

    bytes: Bytes | None = Field(None, ge=1)
    packets: Count | None = None
    original_bytes: Bytes | None = Field(None, ge=1)
    original_packets: Count | None = None
    reply_bytes: Bytes | None = Field(None, ge=1)
    reply_packets: Count | None = None

    @model_validator(mode="after")
    def _one(self) -> After:
        given = [k for k, v in self.__dict__.items() if v is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one counter: bytes, packets, original_bytes, original_packets, "
                "reply_bytes or reply_packets"
            )
        return self

    @property
    def counter(self) -> tuple[str, str, int]:
        """(ct direction or '', 'bytes'|'packets', threshold)."""
        for key, value in self.__dict__.items():
            if value is not None:
                direction, _, unit = key.rpartition("_")
                return direction, unit, value
        raise AssertionError("validated to hold one counter")


class Residual(Strict):
    """After the class's drop/reject fires, keep blocking for `duration`."""

    duration: Nanoseconds
    scope: Literal["flow", "pair", "host"] = "pair"

    @model_validator(mode="after")
    def _positive(self) -> Residual:
        if self.duration < 1_000_000_000:
            raise FieldError("duration", "residual blocking is counted in whole seconds: give at least 1s")
        return self


class Action(Strict):
    """What happens to a class's packets in one direction. Empty: let them pass untouched."""

    netem: Netem | None = None
    shape: Shape | None = None
    police: Police | None = None
    drop: bool = False
    reject: bool = False
    after: After | None = None
    residual: Residual | None = None
    flag: str | None = Field(None, pattern=NAME_PATTERN,
                             description="flag the connection (conntrack mark) for `flagged` matches")

    @model_validator(mode="after")
    def _consistent(self) -> Action:
        if self.drop and self.reject:
            raise FieldError("reject", "choose drop or reject, not both")
        blocking = self.drop or self.reject
        treats = [k for k in ("netem", "shape", "police") if getattr(self, k) is not None]
        if blocking and treats:
            raise FieldError(treats[0], f"{'drop' if self.drop else 'reject'} leaves nothing for {treats[0]}")
        if self.residual is not None and not blocking:
            raise FieldError("residual", "residual blocking follows a drop or reject: add drop: true")
        if self.shape and self.shape.method == "tbf" and self.netem:
            raise FieldError(("shape", "method"), "tbf shaping and netem cannot share a class; "
                             "use shape.method: htb")
        return self


class Directions(Strict):
    uplink: Action | None = None
    downlink: Action | None = None
    both: Action | None = None

    @model_validator(mode="after")
    def _exclusive(self) -> Directions:
        if self.both is not None and (self.uplink is not None or self.downlink is not None):
            raise FieldError("both", "give 'both', or 'uplink'/'downlink', not both forms")
        return self

    def for_direction(self, direction: Literal["uplink", "downlink"]) -> Action:
        chosen = self.both if self.both is not None else getattr(self, direction)
        return chosen if chosen is not None else Action()




class DefaultAction(Action):
    """The treatment of unmatched traffic: no match, so nothing stateful."""

    @model_validator(mode="after")
    def _stateless(self) -> DefaultAction:
        for field in ("after", "residual", "flag"):
            if getattr(self, field):
                raise FieldError(field, f"the default class cannot have {field}: it matches no connection "
                                 "(give it a class of its own)")
        return self


class DefaultDirections(Directions):
    uplink: DefaultAction | None = None
    downlink: DefaultAction | None = None
    both: DefaultAction | None = None
