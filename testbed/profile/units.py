"""Human units in YAML (`40ms`, `128kbit`, `16KiB`, `5%`) and their canonical integers.

Durations become nanoseconds, rates bits per second, sizes bytes, percentages a float
in [0, 100]. Each parser raises ``ValueError`` with a hint a user can act on; the
formatters produce text that the parsers (and tc) read back to the same value.

Every value is non-negative and bounded. The bounds, and where they come from:
- durations at most a day: no phase or impairment of an experiment lasts longer, and the
  kernel's own limits are far above it (netem's TCA_NETEM_LATENCY64 is a signed 64-bit
  count of ns; nft set timeouts are 64-bit milliseconds);
- rates at most 1 Tbit/s: beyond any link the testbed emulates; htb, tbf and netem take
  up to 2^64-1 bytes/s (TCA_HTB_RATE64, TCA_TBF_RATE64, TCA_NETEM_RATE64);
- sizes at most 2^32-1 bytes: tc's 32-bit fields (the htb and tbf burst, tbf's queue
  limit) and nft's 32-bit limit burst.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_NUMBER = r"(?P<num>[0-9]+(?:\.[0-9]+)?|\.[0-9]+)"
MAX_DURATION_NS = 86_400 * 10**9
MAX_RATE_BPS = 10**12
MAX_SIZE_BYTES = 2**32 - 1
_PATTERN = re.compile(rf"^\s*{_NUMBER}\s*(?P<unit>[A-Za-zµ%]*)\s*$")

TIME_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "min": 60_000_000_000,
    "h": 3_600_000_000_000,
}
RATE_UNITS_BPS = {
    "bit": 1,
    "kbit": 10**3,
    "mbit": 10**6,
    "gbit": 10**9,
    "tbit": 10**12,
    "kibit": 2**10,
    "mibit": 2**20,
    "gibit": 2**30,
}
SIZE_UNITS_BYTES = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
}


def _split(text: object, what: str, example: str) -> tuple[Decimal, str]:
    if isinstance(text, bool):
        raise ValueError(f"expected a {what} such as {example!r}, got {text!r}")
    if isinstance(text, int | float):
        if isinstance(text, float) and text != text or text in (float("inf"), float("-inf")):
            raise ValueError(f"{text!r} is not a {what}; write it like {example!r}")
        if text < 0:
            raise ValueError(f"a {what} cannot be negative ({text!r})")
        return Decimal(str(text)), ""
    if not isinstance(text, str):
        raise ValueError(f"expected a {what} such as {example!r}, got {type(text).__name__}")
    match = _PATTERN.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a {what}; write it like {example!r}")
    try:
        return Decimal(match["num"]), match["unit"]
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
        raise ValueError(f"{text!r} is not a number") from exc


def parse_duration_ns(text: object) -> int:
    """`40ms` -> 40_000_000. A bare number is refused: its unit would be a guess."""
    number, unit = _split(text, "duration", "40ms")
    if unit == "":
        raise ValueError(f"{text!r} has no unit; write e.g. '{text}ms' or '{text}s'")
    factor = TIME_UNITS_NS.get(unit)
    if factor is None:
        raise ValueError(f"unknown time unit {unit!r} in {text!r}; use one of {', '.join(TIME_UNITS_NS)}")
    value = int(number * factor)
    if value > MAX_DURATION_NS:
        raise ValueError(f"{text!r} is longer than a day, the longest duration the testbed takes")
    return value


def parse_rate_bps(text: object) -> int:
    """`128kbit` -> 128_000 bits per second (SI prefixes, like tc)."""
    number, unit = _split(text, "rate", "128kbit")
    lowered = unit.lower()
    if lowered.endswith("bps"):
        raise ValueError(
            f"{text!r} is ambiguous: tc reads 'bps' as bytes per second; "
            f"write bits, e.g. '{number}{lowered[:-3]}bit'"
        )
    if unit == "":
        raise ValueError(f"{text!r} has no unit; write e.g. '{text}kbit' or '{text}mbit'")
    factor = RATE_UNITS_BPS.get(lowered)
    if factor is None:
        raise ValueError(f"unknown rate unit {unit!r} in {text!r}; use one of {', '.join(RATE_UNITS_BPS)}")
    value = int(number * factor)
    if value <= 0:
        raise ValueError(f"rate {text!r} must be above zero")
    if value > MAX_RATE_BPS:
        raise ValueError(f"rate {text!r} is above 1tbit, the fastest the testbed takes")
    return value


def parse_size_bytes(text: object) -> int:
    """`16KiB` -> 16384; a bare integer is bytes."""
    number, unit = _split(text, "size", "16KiB")
    factor = SIZE_UNITS_BYTES.get(unit.lower())
    if factor is None:
        raise ValueError(f"unknown size unit {unit!r} in {text!r}; use B, KB, KiB, MB, MiB, GB or GiB")
    value = number * factor
    if value != int(value):
        raise ValueError(f"size {text!r} is not a whole number of bytes")
    if value > MAX_SIZE_BYTES:
        raise ValueError(f"size {text!r} is above 4GiB - 1 byte, the most tc and nft take (32-bit fields)")
    return int(value)


def parse_percent(text: object) -> float:
    """`5%` -> 5.0. The % sign is required: is `5` five percent or 500 %?"""
    number, unit = _split(text, "percentage", "5%")
    if unit != "%":
        raise ValueError(f"{text!r} is not a percentage; write it with a % sign, e.g. '{number}%'")
    value = float(number)
    if value > 100:
        raise ValueError(f"{text!r} is above 100%")
    return value


def _trim(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def format_duration(ns: int) -> str:
    """Shortest exact tc-style text: 40_000_000 -> '40ms'."""
    for unit in ("s", "ms", "us"):
        factor = TIME_UNITS_NS[unit]
        if ns % factor == 0:
            return f"{ns // factor}{unit}"
    return f"{_trim(Decimal(ns) / 1000)}us"


def format_rate(bps: int) -> str:
    """Shortest exact tc-style text: 128_000 -> '128kbit'."""
    for unit in ("gbit", "mbit", "kbit"):
        factor = RATE_UNITS_BPS[unit]
        if bps % factor == 0:
            return f"{bps // factor}{unit}"
    return f"{bps}bit"


def format_percent(value: float) -> str:
    return f"{_trim(Decimal(repr(value)))}%"


def format_bytes(size: int) -> str:
    """Shortest exact text: 16384 -> '16KiB', 1500 -> '1500B'."""
    for unit, factor in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}B"
