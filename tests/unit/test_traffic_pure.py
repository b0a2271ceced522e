"""The pure parts of the probe and download workloads."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from testbed.traffic.download import summarise
from testbed.traffic.probe import SEQ, datagram


@given(st.integers(0, 2**32 - 1), st.binary(max_size=20), st.integers(0, 1400))
def test_datagram_has_exact_size_prefix_and_sequence(seq: int, prefix: bytes, extra: int) -> None:
    size = len(prefix) + SEQ.size + extra
    body = datagram(seq, size, prefix)
    assert len(body) == size and body.startswith(prefix)
    assert SEQ.unpack(body[-SEQ.size:])[0] == seq


def test_datagram_refuses_a_size_that_cannot_hold_it() -> None:
    with pytest.raises(ValueError, match="cannot hold"):
        datagram(1, 5, b"\x01\x00")


def test_summary_rates_whole_and_steady() -> None:
    # 1 s at 1000 B/s, then 1 s at 100 B/s: the steady (second-half) rate is the slow one
    progress = [(t / 10, 100 * t) for t in range(11)] + [(1 + t / 10, 1000 + 10 * t) for t in range(1, 11)]
    result = summarise({"connected": True, "bytes": 1100, "stalled": False, "progress": progress})
    assert result.kbit == pytest.approx(1100 * 8 / 2 / 1000)
    assert result.kbit_steady == pytest.approx(0.8, rel=0.01)


def test_summary_of_a_connection_that_never_opened() -> None:
    result = summarise({"connected": False, "bytes": 0, "stalled": False, "progress": []})
    assert (result.connected, result.kbit, result.kbit_steady) == (False, 0.0, 0.0)
