"""The reading censor's pure parts: name patterns, the profile fields, the compiled mark tests,
the flow reader's decisions under each reassembly mode, and the NFQUEUE messages."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from testbed.classify.flows import Query, Reader, Segment, segment
from testbed.compile.compiler import compile_profile
from testbed.compile.match import negate
from testbed.compile.reading import DECIDED_BIT
from testbed.errors import InputError
from testbed.kernel import nfqueue
from testbed.profile.loader import load_profile
from testbed.profile.names import any_matches, check_pattern

HELLOS = Path(__file__).parents[1] / "data" / "clienthellos"
MSS = 1460
CLIENT = (bytes([198, 18, 0, 2]), 40000, bytes([198, 19, 0, 2]), 443)


@pytest.mark.parametrize(("pattern", "name", "expected"), [
    ("twitter.com", "twitter.com", True),
    ("twitter.com", "api.twitter.com", False),
    ("*.twimg.com", "abs.twimg.com", True),
    ("*.twimg.com", "twimg.com", False),
    ("*twitter.com", "nottwitter.com", True),  # the suffix rule's known mistake
    ("*t.co*", "t.co", True),
    ("*t.co*", "www.microsoft.com", True),  # 10 March 2021
    ("*t.co*", "reddit.com", True),
    ("*t.co*", "example.org", False),
    ("twitter.*", "twitter.co.uk", True),
    ("TWITTER.com", "Twitter.COM.", True),
])
def test_name_patterns_match_as_censors_wrote_them(pattern: str, name: str, expected: bool) -> None:
    assert any_matches([check_pattern(pattern)], name) is expected


@pytest.mark.parametrize("pattern", ["*", "**", "tw*er.com", "a..b", "exa mple.org", "x" * 300, "*.com/"])
def test_bad_name_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError):
        check_pattern(pattern)


def _profile(tmp_path: Path, classes: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text("name: p\ntitle: t\nconfidence: guessed\nclasses:\n" + classes)
    return path


def _problem(tmp_path: Path, classes: str) -> str:
    with pytest.raises(InputError) as caught:
        load_profile(_profile(tmp_path, classes))
    return str(caught.value)


def test_reading_fields_need_tcp_and_read_needs_a_reading_field(tmp_path: Path) -> None:
    udp = _problem(tmp_path, "  - name: a\n    match: {protocol: udp, tls_sni: x.com}\n    both: {drop: true}\n")
    assert "p.yaml:6" in udp and "tls_sni" in udp and "TCP" in udp
    idle = _problem(tmp_path, "  - name: a\n    match: {dst_port: 443}\n    read: {packets: 2}\n"
                              "    both: {drop: true}\n")
    assert "classes[0].read" in idle and "none" in idle


def test_reading_classes_share_one_fail_mode(tmp_path: Path) -> None:
    text = _problem(tmp_path, "  - name: a\n    match: {tls_sni: a.com}\n    read: {fail: open}\n"
                              "    both: {drop: true}\n"
                              "  - name: b\n    match: {http_host: b.com}\n    read: {fail: closed}\n"
                              "    both: {drop: true}\n")
    assert "classes[1].read.fail" in text and "one fail mode" in text


def test_each_reading_test_gets_a_bit_and_undecided_flows_match_neither_way(tmp_path: Path) -> None:
    path = _profile(tmp_path, "  - name: listed\n    match: {tls_sni: [a.com, '*.b.com']}\n    both: {drop: true}\n"
                              "  - name: unlisted\n    match: {not: {tls_sni: [a.com, '*.b.com']}}\n"
                              "    both: {drop: true}\n"
                              "  - name: ech\n    match: {tls_ech: true, tls_sni: c.com}\n    both: {drop: true}\n")
    plan = compile_profile(load_profile(path))
    tests = plan.reader.tests
    assert [(t.kind, t.owner) for t in tests] == [("tls_sni", "listed"), ("tls_sni", "ech"), ("tls_ech", "ech")]
    assert [t.bit for t in tests] == [DECIDED_BIT >> 1, DECIDED_BIT >> 2, DECIDED_BIT >> 3]
    uplink = [r.text for r in next(c for c in plan.nft.chains if c.name == "uplink").rules]
    assert any("ct mark & 0x40000000 == 0x40000000" in r and "drop" in r for r in uplink)
    # not(listed) is "decided and not listed": a SYN (undecided) passes the whitelist class
    assert any("ct mark & 0xc0000000 == 0x80000000" in r for r in uplink)
    forward = [r.text for r in next(c for c in plan.nft.chains if c.name == "forward").rules]
    assert forward[0].startswith("meta mark & 0x80000000 == 0x80000000 ct mark set ct mark | 0x80000000")
    assert "nfqueue" in plan.features and "conntrack_acct" in plan.features


def test_negating_a_read_test_twice_gives_it_back(tmp_path: Path) -> None:
    from testbed.compile.match import read_literal
    yes = read_literal(0x40000000, DECIDED_BIT)
    assert [[lit.text for lit in conj] for conj in negate(negate([(yes,)]))] == [[yes.text]]


def test_the_queue_rules_say_both_forms(tmp_path: Path) -> None:
    plan = compile_profile(load_profile(_profile(
        tmp_path, "  - name: a\n    match: {tls_sni: a.com}\n    read: {fail: closed}\n    both: {drop: true}\n")))
    nft = [r.text for r in plan.reader.queue_chain.rules]
    assert all("queue num 0" in r and "bypass" not in r and "ct original packets >= 3" in r for r in nft)
    xt = plan.reader.iptables
    assert all("NFQUEUE" in r and "--queue-bypass" not in r and r[3] == "testbed-read" for r in xt)


# --- the flow reader ---------------------------------------------------------------------


def _segments(data: bytes, cuts: list[int], seq: int = 1000) -> list[Segment]:
    bounds = [0, *cuts, len(data)]
    return [Segment(CLIENT, seq + a, data[a:b]) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def _decide(tests: list[Query], segments: list[Segment]) -> tuple[int | None, int]:
    reader = Reader(tests, DECIDED_BIT)
    for count, seg in enumerate(segments, 1):
        decided = reader.feed(seg)
        if decided is not None:
            return decided[0], count
    return None, len(segments)


TWITTER = ("*twitter.com", "*.twimg.com", "*t.co*")


def _sni(packets: int, reassembly: str) -> Query:
    return Query(0x40000000, "tls_sni", TWITTER, packets, reassembly)


def test_a_whole_clienthello_is_read_in_either_mode() -> None:
    hello = (HELLOS / "curl-https.bin").read_bytes()
    for mode in ("none", "full"):
        assert _decide([_sni(1, mode)], _segments(hello, [])) == (DECIDED_BIT | 0x40000000, 1)


def test_a_split_clienthello_escapes_none_and_not_full() -> None:
    hello = (HELLOS / "curl-https.bin").read_bytes()
    split = _segments(hello, [1])  # what GoodbyeDPI and zapret do: its first byte alone
    assert _decide([_sni(1, "none")], split) == (DECIDED_BIT, 1)
    assert _decide([_sni(3, "none")], split) == (DECIDED_BIT, 2)
    assert _decide([_sni(3, "full")], split) == (DECIDED_BIT | 0x40000000, 2)


def test_a_junk_packet_first_escapes_a_one_packet_reader() -> None:
    hello = (HELLOS / "curl-https.bin").read_bytes()
    segments = [Segment(CLIENT, 1000, b"\x00" * 10), Segment(CLIENT, 1010, hello)]
    assert _decide([_sni(1, "none")], segments) == (DECIDED_BIT, 1)


def test_chromiums_two_segment_hello_is_read_whole_only_with_reassembly() -> None:
    for path in sorted(HELLOS.glob("chromium-*.bin")):
        hello = path.read_bytes()
        assert len(hello) > MSS
        # the first segment shows the name only when Chromium's permuted extensions put
        # server_name before the cut; read alone, a segment without it says no
        in_first = hello.find(b"twitter.com") + len("twitter.com") <= MSS
        bits, count = _decide([_sni(3, "full")], _segments(hello, [MSS]))
        assert (bits, count) == (DECIDED_BIT | 0x40000000, 1 if in_first else 2), path.name
        alone, _ = _decide([_sni(1, "none")], _segments(hello, [MSS]))
        assert alone == (DECIDED_BIT | 0x40000000 if in_first else DECIDED_BIT), path.name


def test_segments_out_of_order_are_joined_in_sequence_order() -> None:
    hello = (HELLOS / "curl-https.bin").read_bytes()
    first, second = _segments(hello, [100], seq=0xFFFFFFF0)  # and across the wrap of seq
    assert _decide([_sni(3, "full")], [second, first])[0] == DECIDED_BIT | 0x40000000


def test_http_host_tls_and_ech_tests() -> None:
    http = (HELLOS / "curl-http.bin").read_bytes()
    host = Query(0x40000000, "http_host", ("twitter.com",), 3, "full")
    tls = Query(0x20000000, "tls", (), 1, "full")  # not TLS: no at its cap, one packet
    assert _decide([host, tls], _segments(http, []))[0] == DECIDED_BIT | 0x40000000
    ech = Query(0x10000000, "tls_ech", (), 3, "full")
    assert _decide([ech, tls], _segments((HELLOS / "synthetic-ech.bin").read_bytes(), []))[0] == \
        DECIDED_BIT | 0x10000000 | 0x20000000
    assert _decide([ech], _segments((HELLOS / "curl-https.bin").read_bytes(), []))[0] == DECIDED_BIT


def test_a_packet_queued_before_its_flows_verdict_is_late_and_marked_again() -> None:
    reader = Reader([_sni(1, "none")], DECIDED_BIT)
    hello = (HELLOS / "curl-https.bin").read_bytes()
    decided = reader.feed(Segment(CLIENT, 1, hello))
    assert decided is not None and decided[1] is not None
    assert reader.feed(Segment(CLIENT, 1 + len(hello), b"more")) == (decided[0], None)  # the same bits
    assert reader.late_packets == 1 and not reader.flows


def test_a_new_connection_on_the_ports_of_a_decided_one_is_read_afresh() -> None:
    """Ports come back (a client that closes with a reset, a NAT): a random ISN far from the
    old flow's bytes is a new connection, and what it says is read, not the old verdict."""
    reader = Reader([_sni(1, "none")], DECIDED_BIT)
    twitter, other = (HELLOS / "curl-https.bin").read_bytes(), (HELLOS / "openssl-nosni.bin").read_bytes()
    first = reader.feed(Segment(CLIENT, 1000, twitter))
    again = reader.feed(Segment(CLIENT, 1000 + (1 << 31), other))
    assert first is not None and again is not None and again[1] is not None
    assert first[0] == DECIDED_BIT | 0x40000000 and again[0] == DECIDED_BIT and reader.late_packets == 0


def _ipv4_tcp(payload: bytes, data_offset: int = 5) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", 40000, 443, 7, 0, data_offset << 4, 0x18, 1000, 0, 0)
    tcp += b"\0" * (data_offset * 4 - 20)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), 0, 0, 64, 6, 0,
                     CLIENT[0], CLIENT[2])
    return ip + tcp + payload


def test_ip_packets_give_their_segment_and_broken_ones_none() -> None:
    seg = segment(_ipv4_tcp(b"hello", data_offset=8))
    assert seg == Segment(CLIENT, 7, b"hello")
    packet = _ipv4_tcp(b"hello")
    assert segment(packet[:30]) is None  # cut inside the TCP header
    assert segment(packet[:20]) is None
    assert segment(b"\x60" + packet[1:]) is None  # says IPv6, too short for its header
    assert segment(packet[:32] + bytes([0xF0]) + packet[33:40]) is None  # a TCP header longer than the packet


# --- NFQUEUE messages ----------------------------------------------------------------------


def test_a_verdict_carries_the_packet_id_and_mark() -> None:
    msg = nfqueue.verdict_message(3, 77, nfqueue.NF_ACCEPT, 0xC0000000)
    length, kind, _, _, _ = struct.unpack_from("=IHHII", msg)
    assert length == len(msg) and kind == (nfqueue.NFNL_SUBSYS_QUEUE << 8) | nfqueue.NFQNL_MSG_VERDICT
    attrs = nfqueue.attributes(msg, 20, len(msg))
    at, size = attrs[nfqueue.NFQA_VERDICT_HDR]
    assert struct.unpack_from("!II", msg, at) == (nfqueue.NF_ACCEPT, 77) and size == 8
    at, _ = attrs[nfqueue.NFQA_MARK]
    assert struct.unpack_from("!I", msg, at)[0] == 0xC0000000
    assert struct.unpack_from("!H", msg, 18)[0] == 3  # the queue number, big-endian


def test_a_queued_packet_message_parses_and_a_truncated_one_is_ignored() -> None:
    body = (nfqueue._attr(nfqueue.NFQA_PACKET_HDR, struct.pack("!IHB", 9, 0x0800, 2))
            + nfqueue._attr(nfqueue.NFQA_MARK, struct.pack("!I", 0x1000))
            + nfqueue._attr(nfqueue.NFQA_PAYLOAD, b"\x45abc"))
    msg = nfqueue.message(nfqueue.NFQNL_MSG_PACKET, 0, body)
    assert list(nfqueue.parse_messages(msg)) == [nfqueue.Packet(9, b"\x45abc", 0x1000)]
    assert list(nfqueue.parse_messages(msg[:-3])) == []
