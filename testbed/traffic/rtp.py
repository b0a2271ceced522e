"""RTP packets as VoIP apps send them, optionally framed like WhatsApp's relays (STUN) or
Telegram's legacy reflectors.

A packet: [STUN header (20 B, cookie 0x2112A442 at offset 4) | reflector header (16 B peer
tag, then 12 bytes of 0xFF)] RTP header (12 B: V=2, PT,
sequence, timestamp, SSRC) and a payload of the codec's size whose first 12 bytes carry
the testbed's own 32-bit sequence number and send time (ns), so that every packet can be
matched and timed without relying on the 16-bit RTP sequence.
"""

from __future__ import annotations

import functools
import os
import struct
from dataclasses import dataclass

RTP_HEADER = struct.Struct("!BBHII")
MARK = struct.Struct("!Iq")
STUN_HEADER = struct.Struct("!HHI12s")
STUN_COOKIE = 0x2112A442  # RFC 5389's magic cookie, at offset 4 of every STUN message
STUN_COOKIE_BYTES = STUN_COOKIE.to_bytes(4, "big")
STUN_HEADER_BYTES = STUN_HEADER.size
STUN_TYPE = 0x0801  # inside WhatsApp's relay range 0x0800-0x0802 (RESEARCH.md section 2)
REFLECTOR_MARK = b"\xff" * 12  # after a 16-byte peer tag (RESEARCH.md section 2)
REFLECTOR_HEADER = 16 + len(REFLECTOR_MARK)
FRAMINGS = ("rtp", "stun", "reflector")
DYNAMIC_PT = 111
SAMPLE_RATE = {"g711": 8000, "g711-noplc": 8000, "g729": 8000, "opus-webrtc": 48000, "opus-telegram": 48000}
PAYLOAD_TYPE = {"g711": 0, "g711-noplc": 0, "g729": 18}


@dataclass(frozen=True)
class Parsed:
    ssrc: int
    seq: int
    send_ns: int
    size: int


def ssrc_for(call: int, downlink: bool) -> int:
    return 0x5E000000 | (call << 1) | int(downlink)


def call_of(ssrc: int) -> tuple[int, bool]:
    return (ssrc & 0xFFFFFF) >> 1, bool(ssrc & 1)


@functools.cache
def _filler(payload_bytes: int) -> bytes:
    return bytes(max(0, payload_bytes - MARK.size))


def build(codec: str, payload_bytes: int, frame_ms: float, ssrc: int, seq: int, send_ns: int,
          framing: str = "rtp") -> bytes:
    timestamp = (seq * int(SAMPLE_RATE[codec] * frame_ms / 1000)) & 0xFFFFFFFF
    header = RTP_HEADER.pack(0x80, PAYLOAD_TYPE.get(codec, DYNAMIC_PT), seq & 0xFFFF, timestamp, ssrc)
    payload = MARK.pack(seq, send_ns) + _filler(payload_bytes)
    packet = header + payload
    if framing == "stun":
        packet = STUN_HEADER.pack(STUN_TYPE, len(packet), STUN_COOKIE, os.urandom(12)) + packet
    elif framing == "reflector":
        packet = _peer_tag(ssrc) + REFLECTOR_MARK + packet
    return packet


@functools.cache
def _peer_tag(ssrc: int) -> bytes:
    """A call's 16-byte reflector peer tag: fixed per stream, as Telegram's are per call."""
    return ssrc.to_bytes(4, "big") * 4


def parse(data: bytes) -> Parsed | None:
    """None for anything that is not one of our packets."""
    offset = 0
    if len(data) >= STUN_HEADER_BYTES and data[4:8] == STUN_COOKIE_BYTES:
        offset = STUN_HEADER_BYTES
    elif len(data) >= REFLECTOR_HEADER and data[16:REFLECTOR_HEADER] == REFLECTOR_MARK:
        offset = REFLECTOR_HEADER
    if len(data) < offset + RTP_HEADER.size + MARK.size or data[offset] >> 6 != 2:
        return None
    _, _, _, _, ssrc = RTP_HEADER.unpack_from(data, offset)
    seq, send_ns = MARK.unpack_from(data, offset + RTP_HEADER.size)
    return Parsed(ssrc, seq, send_ns, len(data))
