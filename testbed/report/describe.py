"""A profile's treatments in plain language, for docs/profiles.md and `profiles show`."""

from __future__ import annotations

from testbed.profile.actions import Action
from testbed.profile.units import format_bytes, format_rate
from testbed.profile.units import format_duration as _tc_duration


def describe_action(action: Action) -> str:
    """A short plain-language summary of one direction's treatment."""
    parts: list[str] = []
    if action.flag:
        parts.append(f"flag the connection `{action.flag}`")
    if action.drop or action.reject:
        verb = "drop" if action.drop else "reject"
        if action.after:
            direction, unit, threshold = action.after.counter
            amount = format_bytes(threshold) if unit == "bytes" else f"{threshold} packets"
            scope = {"original": " from the side that opened it", "reply": " from the side that answered",
                     "": ""}[direction]
            parts.append(f"{verb} once the connection has carried {amount}{scope}")
        else:
            parts.append(verb)
        if action.residual:
            res = action.residual
            parts.append(f"then block the {res.scope} for {format_duration(res.duration)}")
    if action.police:
        pol = action.police
        per = "per flow" if pol.per == "flow" else "in aggregate"
        idle = f", state kept {format_duration(pol.idle_timeout)} idle" if pol.idle_timeout else ""
        parts.append(f"police to {format_rate(pol.rate)} {per}, burst {format_bytes(pol.burst)}{idle}")
    if action.shape:
        parts.append(f"shape ({action.shape.method}) to {format_rate(action.shape.rate)}")
    if action.netem:
        parts.append(f"netem: {_netem_summary(action)}")
    if not parts:
        return "pass"
    return "; ".join(parts)


def _netem_summary(action: Action) -> str:
    n = action.netem
    assert n is not None
    bits = []
    if n.delay:
        jitter = f" ± {format_duration(n.jitter)}" if n.jitter else ""
        shape = f" ({n.distribution})" if n.distribution else ""
        bits.append(f"delay {format_duration(n.delay)}{jitter}{shape}")
    if n.loss:
        if n.loss.random is not None:
            bits.append(f"loss {n.loss.random:g} %")
        elif n.loss.gemodel:
            g = n.loss.gemodel
            bits.append(f"Gilbert-Elliott loss (p {g.p:g} %, r {g.r:g} %, {g.loss_in_bad:g} % in bad, "
                        f"{g.loss_in_good:g} % in good)")
        else:
            bits.append("4-state loss")
    if n.rate:
        bits.append(f"rate {format_rate(n.rate.rate)}")
    if n.slot:
        bits.append(f"slots {format_duration(n.slot.min)}-{format_duration(n.slot.max or n.slot.min)}")
    for name in ("duplicate", "corrupt", "reorder"):
        chance = getattr(n, name)
        if chance:
            bits.append(f"{name} {chance.percent:g} %")
    return ", ".join(bits) or "no impairment"


def format_duration(ns: int) -> str:
    """Minutes for humans where they are whole (600s -> 10 min), else tc's text."""
    minutes, rest = divmod(ns, 60_000_000_000)
    return f"{minutes} min" if minutes and not rest else _tc_duration(ns)
