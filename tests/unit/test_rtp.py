from __future__ import annotations

import pytest

from testbed.measure.emodel import CODECS
from testbed.traffic import rtp

FRAMING_BYTES = {"rtp": 0, "stun": 20, "reflector": 28}


@pytest.mark.parametrize("codec", sorted(CODECS))
@pytest.mark.parametrize("framing", rtp.FRAMINGS)
def test_packets_round_trip(codec: str, framing: str) -> None:
    spec = CODECS[codec]
    ssrc = rtp.ssrc_for(7, downlink=True)
    payload = bytes(range(7)) * 3
    packet = rtp.build(codec, payload, spec.frame_ms, ssrc, 70000, 123456789, framing)
    extra = FRAMING_BYTES[framing]
    assert len(packet) == 12 + 20 + len(payload) + extra
    header = packet[extra:]
    assert header[0] == 0x90 and int.from_bytes(header[2:4], "big") == 70000 & 0xFFFF  # V=2, X=1
    # RFC 8285 one-byte header: 0xBEDE, 4 words, ID 1 with 12 bytes, 3 bytes of padding
    assert header[12:16] == bytes.fromhex("bede0004") and header[16] == 0x1B and header[29:32] == bytes(3)
    assert header[32:] == payload
    # what the profiles' payload matches see
    if framing == "stun":
        assert packet[4:8] == bytes.fromhex("2112a442")
    if framing == "reflector":
        assert packet[16:28] == b"\xff" * 12 and len(set(packet[:16])) > 1
    parsed = rtp.parse(packet)
    assert parsed == rtp.Parsed(ssrc, 70000, 123456789, len(packet))
    assert rtp.call_of(parsed.ssrc) == (7, True)


def test_rtp_timestamp_advances_by_samples_per_frame() -> None:
    first = rtp.build("g711", rtp.zeros(160), 20, 1, 0, 0)
    second = rtp.build("g711", rtp.zeros(160), 20, 1, 1, 0)
    assert int.from_bytes(second[4:8], "big") - int.from_bytes(first[4:8], "big") == 160
    after_a_pause = rtp.build("g711", rtp.zeros(160), 20, 1, 2, 0, frame=9)  # DTX left frames 2-8 unsent
    assert int.from_bytes(after_a_pause[4:8], "big") == 9 * 160 and after_a_pause[2:4] == b"\x00\x02"


def test_the_marker_bit_flags_a_talkspurts_first_packet_and_keeps_the_payload_type() -> None:
    start = rtp.build("opus-webrtc", b"\x01", 20, 1, 2, 0, frame=9, marker=True)
    assert start[1] == 0x80 | rtp.DYNAMIC_PT and rtp.build("g711", b"\x01", 20, 1, 3, 0)[1] == 0
    assert rtp.parse(start) is not None


def test_foreign_packets_are_ignored() -> None:
    assert rtp.parse(b"hello") is None
    assert rtp.parse(bytes(40)) is None  # version 0
    plain = bytearray(rtp.build("g711", rtp.zeros(160), 20, 1, 0, 0))
    plain[12:14] = b"\x10\x00"  # another extension profile: not ours
    assert rtp.parse(bytes(plain)) is None
