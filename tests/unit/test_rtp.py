from __future__ import annotations

import pytest

from testbed.measure.emodel import CODECS
from testbed.traffic import rtp


@pytest.mark.parametrize("codec", sorted(CODECS))
@pytest.mark.parametrize("stun", [False, True])
def test_packets_round_trip(codec: str, stun: bool) -> None:
    spec = CODECS[codec]
    ssrc = rtp.ssrc_for(7, downlink=True)
    packet = rtp.build(codec, spec.payload_bytes, spec.frame_ms, ssrc, 70000, 123456789, stun)
    assert len(packet) == 12 + spec.payload_bytes + (20 if stun else 0)
    header = packet[20:] if stun else packet
    assert header[0] == 0x80 and int.from_bytes(header[2:4], "big") == 70000 & 0xFFFF
    if stun:
        assert packet[4:8] == bytes.fromhex("2112a442")  # what the profiles' payload match sees
    parsed = rtp.parse(packet)
    assert parsed == rtp.Parsed(ssrc, 70000, 123456789, len(packet))
    assert rtp.call_of(parsed.ssrc) == (7, True)


def test_rtp_timestamp_advances_by_samples_per_frame() -> None:
    first = rtp.build("g711", 160, 20, 1, 0, 0, False)
    second = rtp.build("g711", 160, 20, 1, 1, 0, False)
    assert int.from_bytes(second[4:8], "big") - int.from_bytes(first[4:8], "big") == 160


def test_foreign_packets_are_ignored() -> None:
    assert rtp.parse(b"hello") is None
    assert rtp.parse(bytes(40)) is None  # version 0
