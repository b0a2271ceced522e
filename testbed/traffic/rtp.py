"""RTP packets as VoIP apps send them, optionally framed like WhatsApp's relays (STUN) or
Telegram's legacy reflectors.

A packet: [STUN header (20 B, cookie 0x2112A442 at offset 4) | reflector header (16 B peer
tag, then 12 bytes of 0xFF)] RTP header (12 B: V=2, X=1, PT, sequence, timestamp, SSRC),
an RFC 8285 one-byte-header extension (0xBEDE, 4 words) whose element ID 1 carries the
testbed's own 32-bit sequence number and send time in ns (12 bytes, as WebRTC's
transport-wide sequence number and abs-send-time extensions carry theirs), then the
codec's payload: a real encoded frame (testbed/speech/media.py), or zeros of the codec's
size for a model-only preset. The 32-bit sequence matches every packet without relying on
the 16-bit RTP sequence; the RTP timestamp counts the frame's samples, so it jumps across
frames left unsent under DTX, as a real sender's does.
"""

from __future__ import annotations

import functools
import os
import struct
from dataclasses import dataclass

from testbed.speech.presets import PRESETS

RTP_HEADER = struct.Struct("!BBHII")
RTP_V2_EXTENSION = 0x90  # V=2, X=1, no CSRC
ONE_BYTE_PROFILE = 0xBEDE  # RFC 8285 section 4.2
MARK_ID = 1  # the extension element's ID (negotiated per call in SDP, a=extmap)
MARK = struct.Struct("!Iq")
EXTENSION = struct.Struct("!HHB12s3x")  # profile, length in words (4), ID/len, seq+send_ns, padding
EXTENSION_WORDS = (EXTENSION.size - 4) // 4
EXTENSION_ELEMENT = (MARK_ID << 4) | (MARK.size - 1)
STUN_HEADER = struct.Struct("!HHI12s")
STUN_COOKIE = 0x2112A442  # RFC 5389's magic cookie, at offset 4 of every STUN message
STUN_COOKIE_BYTES = STUN_COOKIE.to_bytes(4, "big")
STUN_HEADER_BYTES = STUN_HEADER.size
STUN_TYPE = 0x0801  # inside WhatsApp's relay range 0x0800-0x0802 (RESEARCH.md section 2)
REFLECTOR_MARK = b"\xff" * 12  # after a 16-byte peer tag (RESEARCH.md section 2)
REFLECTOR_HEADER = 16 + len(REFLECTOR_MARK)
FRAMINGS = ("rtp", "stun", "reflector")
DYNAMIC_PT = 111
MARKER_BIT = 0x80  # the top bit of the byte that holds the payload type
SAMPLE_RATE = {name: preset.rate for name, preset in PRESETS.items()}  # RTP clock (Opus: 48 kHz, RFC 7587)
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
def zeros(payload_bytes: int) -> bytes:
    """The payload of a model-only preset (nothing real to send)."""
    return bytes(payload_bytes)


def build(codec: str, payload: bytes, frame_ms: float, ssrc: int, seq: int, send_ns: int,
          framing: str = "rtp", frame: int | None = None, marker: bool = False) -> bytes:
    """One packet: `seq` counts packets sent, `frame` the frame it carries (default `seq`);
    `marker`: the first packet of a talkspurt (RFC 3551 section 4.1: after silence DTX left unsent)."""
    samples = int(SAMPLE_RATE[codec] * frame_ms / 1000)
    timestamp = ((seq if frame is None else frame) * samples) & 0xFFFFFFFF
    payload_type = PAYLOAD_TYPE.get(codec, DYNAMIC_PT) | (MARKER_BIT if marker else 0)
    header = RTP_HEADER.pack(RTP_V2_EXTENSION, payload_type, seq & 0xFFFF, timestamp, ssrc)
    extension = EXTENSION.pack(ONE_BYTE_PROFILE, EXTENSION_WORDS, EXTENSION_ELEMENT, MARK.pack(seq, send_ns))
    packet = header + extension + payload
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
    if len(data) < offset + RTP_HEADER.size + EXTENSION.size or data[offset] != RTP_V2_EXTENSION:
        return None
    _, _, _, _, ssrc = RTP_HEADER.unpack_from(data, offset)
    profile, words, element, mark = EXTENSION.unpack_from(data, offset + RTP_HEADER.size)
    if profile != ONE_BYTE_PROFILE or words != EXTENSION_WORDS or element != EXTENSION_ELEMENT:
        return None
    seq, send_ns = MARK.unpack(mark)
    return Parsed(ssrc, seq, send_ns, len(data))
