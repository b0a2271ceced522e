"""A flow's client bytes as the reader sees them, and the answers to a profile's reading tests.

Pure: packets in, decisions out. `reassembly: none` reads each data packet alone, as
TSPU's throttle and Iran's filter do (a ClientHello split across segments says nothing);
`full` joins the client's segments in sequence order until the message is whole or the
test's packet cap is reached, as TSPU's blocker and OpenGFW do.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from dataclasses import dataclass, field

from testbed.classify.http import read_http_host
from testbed.classify.reading import Incomplete
from testbed.classify.tls import is_tls_start, read_client_hello
from testbed.profile.names import any_matches

MAX_FLOWS = 65536  # undecided flows held at once; the oldest is decided "no" beyond that
# A packet of a decided flow whose sequence number lies within this of the flow's first byte
# read, either way, is the same connection (queued before the verdict reached the kernel);
# beyond it, a new connection on the same addresses and ports (a random ISN lands within
# it with p = 2^-7, and then takes the old verdict)
SAME_CONNECTION = 1 << 24
TLS_RECORD_HEADER = 5
MAX_HELD_BYTES = 64 * 1024  # a ClientHello's record cap (RFC 8446 5.1) with room


@dataclass(frozen=True)
class Query:
    bit: int
    kind: str
    patterns: tuple[str, ...]
    packets: int
    reassembly: str


@dataclass(frozen=True)
class Segment:
    """The parts of an IP packet the reader needs; None from `segment()` for anything else."""

    flow: tuple  # (src, sport, dst, dport)
    seq: int
    payload: bytes


def segment(packet: bytes) -> Segment | None:
    """IPv4 or IPv6 with TCP (no IPv6 extension headers), from the IP header on."""
    if len(packet) < 20:
        return None
    version = packet[0] >> 4
    if version == 4:
        ihl = (packet[0] & 0x0F) * 4
        if packet[9] != 6 or ihl < 20:
            return None
        total = min(struct.unpack_from("!H", packet, 2)[0], len(packet))
        src, dst, at = packet[12:16], packet[16:20], ihl
    elif version == 6 and len(packet) >= 40:
        if packet[6] != 6:
            return None
        total = min(40 + struct.unpack_from("!H", packet, 4)[0], len(packet))
        src, dst, at = packet[8:24], packet[24:40], 40
    else:
        return None
    if total < at + 20:
        return None
    sport, dport, seq = struct.unpack_from("!HHI", packet, at)
    offset = (packet[at + 12] >> 4) * 4
    if offset < 20 or at + offset > total:
        return None
    return Segment((src, sport, dst, dport), seq, packet[at + offset:total])


def _before(a: int, b: int) -> bool:
    """Sequence number a comes before b, modulo 2**32 (RFC 1982 serial arithmetic)."""
    return 0 < (b - a) & 0xFFFFFFFF < 0x80000000


@dataclass
class Flow:
    first_seq: int = 0  # of the first data packet read: what tells a later packet's connection
    segments: dict[int, bytes] = field(default_factory=dict)
    packets: int = 0  # data packets read
    answers: dict[int, bool] = field(default_factory=dict)  # test bit -> answer
    seen: dict[str, object] = field(default_factory=dict)  # what the reader read, for the record

    def stream(self) -> bytes:
        """The client's bytes from its first segment on, up to the first gap."""
        out = bytearray()
        expected = None
        first = next(s for s in self.segments if not any(_before(o, s) for o in self.segments))
        for seq in sorted(self.segments, key=lambda s: (s - first) & 0xFFFFFFFF):
            data = self.segments[seq]
            if expected is not None:
                skip = (expected - seq) & 0xFFFFFFFF
                if skip >= 0x80000000:  # a gap: what follows it is not read yet
                    break
                data = data[skip:]
            out += data
            expected = (seq + len(self.segments[seq])) & 0xFFFFFFFF
            if len(out) > MAX_HELD_BYTES:
                break
        return bytes(out)


NOT_A_MESSAGE = "not a message"  # the bytes do not begin a message of the test's kind


def _answer(query: Query, data: bytes, flow: Flow) -> bool | str | None:
    """True or False once the bytes say; None while they might still; NOT_A_MESSAGE when
    they do not begin a message of the kind at all."""
    if query.kind == "tls":
        if len(data) < TLS_RECORD_HEADER and data[:1] in (b"", b"\x16"):
            return None  # a record header cut short (a hello split at its first bytes): read on
        return is_tls_start(data) or NOT_A_MESSAGE
    if query.kind == "http_host":
        host = read_http_host(data)
        if host is None or isinstance(host, Incomplete):
            return None if host is not None else NOT_A_MESSAGE
        flow.seen["http_host"] = host
        return any_matches(query.patterns, host)
    hello = read_client_hello(data)
    if hello is None or isinstance(hello, Incomplete):
        return None if hello is not None else NOT_A_MESSAGE
    flow.seen["tls_sni"] = hello.sni
    flow.seen["tls_ech"] = hello.ech
    return hello.ech if query.kind == "tls_ech" else any_matches(query.patterns, hello.sni)


def _final(answer: bool | str | None, reassembly: str, read: int, cap: int) -> bool | None:
    """The answer to keep, or None to read on. Read alone (none), a packet that is not a
    message or not a whole one says no. Joined (full), bytes that do not begin a message may
    still lack their first segment (reordered): read on to the cap."""
    if isinstance(answer, bool):
        return answer
    if reassembly == "none" and answer == NOT_A_MESSAGE:
        return False
    return False if read >= cap else None


class Reader:
    """Decides flows from their client's data packets. `feed` returns the decided mark bits
    (the DECIDED bit and those of the tests that hold) once every test has its answer."""

    def __init__(self, tests: list[Query], decided_bit: int):
        self.tests = tests
        self.decided_bit = decided_bit
        self.flows: OrderedDict[tuple, Flow] = OrderedDict()
        self.recently_decided: OrderedDict[tuple, tuple[int, int]] = OrderedDict()  # -> (bits, first seq)
        self.late_packets = 0  # packets of flows already decided, queued before their verdict
        self.evicted = 0

    def feed(self, seg: Segment) -> tuple[int, Flow | None] | None:
        """The mark bits and the flow when this packet decides it; the bits and None for a
        packet of a flow decided already (its verdict marks it again: the connection's mark
        is set either way); None while undecided."""
        earlier = self.recently_decided.get(seg.flow)
        if earlier is not None:
            bits, first_seq = earlier
            if min((seg.seq - first_seq) & 0xFFFFFFFF, (first_seq - seg.seq) & 0xFFFFFFFF) < SAME_CONNECTION:
                self.late_packets += 1
                return bits, None
            del self.recently_decided[seg.flow]  # a new connection on the same ports: read it
        if not seg.payload:
            return None
        flow = self.flows.get(seg.flow)
        if flow is None:
            if len(self.flows) >= MAX_FLOWS:
                self.flows.popitem(last=False)
                self.evicted += 1
            flow = self.flows[seg.flow] = Flow(first_seq=seg.seq)
        flow.packets += 1
        flow.segments.setdefault(seg.seq, seg.payload)
        stream = None
        for query in self.tests:
            if query.bit in flow.answers:
                continue
            if query.reassembly == "none":
                answer = _answer(query, seg.payload, flow) if flow.packets <= query.packets else False
            else:
                stream = stream if stream is not None else flow.stream()
                answer = _answer(query, stream, flow)
            final = _final(answer, query.reassembly, flow.packets, query.packets)
            if final is not None:
                flow.answers[query.bit] = final
        if len(flow.answers) < len(self.tests):
            return None
        del self.flows[seg.flow]
        bits = self.decided_bit | sum(bit for bit, yes in flow.answers.items() if yes)
        self.recently_decided[seg.flow] = (bits, flow.first_seq)
        if len(self.recently_decided) > MAX_FLOWS:
            self.recently_decided.popitem(last=False)
        return bits, flow
