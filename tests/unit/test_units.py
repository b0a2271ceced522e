from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from testbed.profile.units import (
    MAX_DURATION_NS,
    MAX_SIZE_BYTES,
    format_duration,
    format_percent,
    format_rate,
    parse_duration_ns,
    parse_percent,
    parse_rate_bps,
    parse_size_bytes,
)


@pytest.mark.parametrize("text,ns", [("40ms", 40_000_000), ("1.5s", 1_500_000_000), ("500us", 500_000),
                                     ("10m", 600_000_000_000), ("2h", 7_200_000_000_000), ("0.5ms", 500_000)])
def test_durations(text: str, ns: int) -> None:
    assert parse_duration_ns(text) == ns


@pytest.mark.parametrize("text,bps", [("128kbit", 128_000), ("2mbit", 2_000_000), ("1.5gbit", 1_500_000_000),
                                      ("64kibit", 65_536), ("100bit", 100)])
def test_rates(text: str, bps: int) -> None:
    assert parse_rate_bps(text) == bps


@pytest.mark.parametrize("text,size", [("16KiB", 16384), ("16KB", 16000), (1500, 1500), ("1500", 1500),
                                       ("1MiB", 1 << 20), ("2B", 2)])
def test_sizes(text: object, size: int) -> None:
    assert parse_size_bytes(text) == size


@pytest.mark.parametrize("text,message", [
    ("40", "has no unit"), ("5 parsecs", "unknown time unit"), (True, "expected a duration"),
])
def test_bad_durations(text: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration_ns(text)


@pytest.mark.parametrize("text,message", [
    ("2mbps", "ambiguous"), ("2", "has no unit"), ("0kbit", "above zero"), ("fast", "is not a rate"),
])
def test_bad_rates(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_rate_bps(text)


def test_percent_needs_sign_and_range() -> None:
    assert parse_percent("0.5%") == 0.5
    with pytest.raises(ValueError, match="% sign"):
        parse_percent("5")
    with pytest.raises(ValueError, match="above 100"):
        parse_percent("101%")


@given(st.integers(min_value=1, max_value=MAX_DURATION_NS))
def test_duration_roundtrip(ns: int) -> None:
    assert parse_duration_ns(format_duration(ns)) == ns


@given(st.integers(min_value=1, max_value=10**12))
def test_rate_roundtrip(bps: int) -> None:
    assert parse_rate_bps(format_rate(bps)) == bps


@given(st.decimals(min_value=0, max_value=100, places=4, allow_nan=False))
def test_percent_roundtrip(value) -> None:
    assert parse_percent(format_percent(float(value))) == pytest.approx(float(value))


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(["B", "KB", "KiB", "MB", "MiB"]))
def test_size_units_scale(number: int, unit: str) -> None:
    factor = {"B": 1, "KB": 1000, "KiB": 1024, "MB": 10**6, "MiB": 2**20}[unit]
    if number * factor > MAX_SIZE_BYTES:
        with pytest.raises(ValueError, match="32-bit"):
            parse_size_bytes(f"{number}{unit}")
    else:
        assert parse_size_bytes(f"{number}{unit}") == number * factor


@pytest.mark.parametrize(("parse", "value", "message"), [
    (parse_duration_ns, "25h", "longer than a day"), (parse_duration_ns, -5, "negative"),
    (parse_duration_ns, float("nan"), "not a duration"), (parse_rate_bps, "2tbit", "above 1tbit"),
    (parse_size_bytes, -1, "negative"), (parse_size_bytes, True, "got True"), (parse_size_bytes, "5GiB", "32-bit"),
    (parse_size_bytes, float("inf"), "not a size")])
def test_values_are_non_negative_finite_and_bounded(parse, value, message) -> None:
    with pytest.raises(ValueError, match=message):
        parse(value)
