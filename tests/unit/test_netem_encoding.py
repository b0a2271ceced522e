"""The netem plugin encodes what tc would send, and decodes the kernel's dump back."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.compile.plan import NetemParams
from testbed.kernel import netem


def _roundtrip(params: NetemParams) -> NetemParams:
    encoded = netem.options()
    encoded.setvalue(netem.get_parameters({"netem_params": params}))
    encoded.encode()
    decoded = netem.options(encoded.data)
    decoded.decode()
    return netem.decode(decoded)


def test_percent_scale_matches_tc() -> None:
    assert netem.pct_to_u32(100) == 0xFFFFFFFF
    assert netem.pct_to_u32(50) == 2147483648  # rint(0.5 * UINT32_MAX)
    assert netem.u32_to_pct(netem.pct_to_u32(5)) == 5.0


def test_gemodel_h_is_inverted_like_tc() -> None:
    encoded = netem.options()
    encoded.setvalue(netem.get_parameters({"netem_params": NetemParams(
        delay_ns=1_000_000, loss_gemodel=(5.0, 30.0, 100.0, 0.0))}))
    encoded.encode()
    decoded = netem.options(encoded.data)
    decoded.decode()
    ge = decoded.get_attr("TCA_NETEM_LOSS").get_attr("NETEM_LOSS_GE")
    assert ge["h"] == 0  # 1-h = 100 %: every packet in the bad state is lost
    assert ge["p"] == netem.pct_to_u32(5.0)


def test_delay_distribution_table_is_sent_as_s16() -> None:
    try:
        table = netem.distribution_table("normal")
    except netem.DistributionMissing:
        pytest.fail("iproute2's normal.dist must be installed (the README's setup installs iproute2)")
    encoded = netem.options()
    encoded.setvalue(netem.get_parameters({"netem_params": NetemParams(
        delay_ns=10_000_000, jitter_ns=5_000_000, distribution="normal")}))
    encoded.encode()
    decoded = netem.options(encoded.data)
    decoded.decode()
    raw = decoded.get_attr("TCA_NETEM_DELAY_DIST")
    assert struct.unpack(f"={len(table)}h", raw) == tuple(table)
    assert len(table) == 4096


def test_latency64_and_slot() -> None:
    params = NetemParams(delay_ns=123_456_789, jitter_ns=1_500, slot=(5_000_000, 15_000_000, 8, 12000))
    assert _roundtrip(params) == netem.as_kernel_keeps(params)


percents = st.sampled_from([0.0, 0.1, 0.5, 1.0, 5.0, 12.5, 30.0, 99.0, 100.0])


@settings(max_examples=100, deadline=None)
@given(
    delay=st.integers(0, 10**10), jitter=st.integers(0, 10**9), loss=percents, corr=percents,
    dup=percents, corrupt=percents, reorder=percents, rate=st.sampled_from([0, 8000, 10**6, 10**9, 40 * 10**9]),
    overhead=st.integers(-100, 100), limit=st.integers(1, 10**6), ecn=st.booleans(),
    model=st.sampled_from(["random", "state", "gemodel"]),
)
def test_encode_decode_roundtrip(delay, jitter, loss, corr, dup, corrupt, reorder, rate, overhead, limit,
                                 ecn, model) -> None:
    params = NetemParams(
        limit=limit, delay_ns=delay, jitter_ns=jitter if delay else 0,
        loss_pct=loss if model == "random" else 0.0,
        loss_correlation_pct=corr if model == "random" else 0.0,
        loss_state=(loss, corr, dup, 100.0, 0.5) if model == "state" else None,
        loss_gemodel=(loss, corr, 90.0, 1.0) if model == "gemodel" else None,
        duplicate_pct=dup, corrupt_pct=corrupt, reorder_pct=reorder if delay else 0.0,
        gap=5 if (reorder and delay) else 0, rate_bps=rate, packet_overhead=overhead if rate else 0,
        ecn=ecn,
    )
    assert _roundtrip(params) == netem.as_kernel_keeps(params)
