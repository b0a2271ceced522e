"""The reading censor's parsers (testbed/classify) on real first flights and hostile ones.

Real: tests/data/clienthellos (its README says how each was captured). Every file reads whole
with its name; cut at every byte it never names another host and never raises. Hostile:
hand-made bad hellos and requests, each with the answer it must get, and a fuzz over mutated
corpus files and random bytes. Nothing here times a parse: the bounds are structural (at most
64 records, 64 KiB of message, 8 KiB of header) and the hostile cases prove them by size.

What the readers decide where the RFCs leave a choice (the tests below pin each):
- a host name with a NUL, a space, a non-ASCII byte or over 255 bytes is no name: the hello is
  still TLS, with sni=None (a C-string matcher would read it shorter); an HTTP Host like it is "";
- a ServerNameList with no entries, an empty ALPN name, a duplicate extension: not a
  ClientHello (None), as OpenSSL refuses them too;
- more bytes never turn None into an answer, and never change a name already given.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testbed.classify.http import MAX_HEADER_BYTES, read_http_host
from testbed.classify.reading import Incomplete
from testbed.classify.tls import (
    EXT_ALPN,
    EXT_ECH,
    EXT_SERVER_NAME,
    EXT_SUPPORTED_VERSIONS,
    MAX_MESSAGE_BYTES,
    ClientHello,
    is_tls_start,
    read_client_hello,
)
from tests.cli import ROOT

CORPUS = ROOT / "tests" / "data" / "clienthellos"
MSS = 1460
FUZZ = settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])

H2 = ("h2", "http/1.1")
# file -> (sni, ech, alpn, versions); GREASE versions vary per connection (None: not pinned)
HELLOS: dict[str, tuple[str | None, bool, tuple[str, ...], tuple[int, ...] | None]] = {
    "python-tls13.bin": ("twitter.com", False, (), (0x0304, 0x0303)),
    "python-tls12.bin": ("twitter.com", False, (), (0x0303,)),
    "curl-https.bin": ("twitter.com", False, H2, (0x0304, 0x0303, 0x0302, 0x0301)),
    "openssl-sni.bin": ("twitter.com", False, (), (0x0304, 0x0303, 0x0302, 0x0301)),
    "openssl-nosni.bin": (None, False, (), (0x0304, 0x0303, 0x0302, 0x0301)),
    **{f"chromium-run{n}.bin": ("twitter.com", True, H2, None) for n in range(1, 6)},  # GREASE ECH
    "synthetic-ech.bin": ("cloudflare-ech.com", True, (), (0x0304, 0x0303)),
}
HTTP_REQUESTS = {"curl-http.bin": "twitter.com"}
# whether the first 1460-byte segment alone shows the name (Chromium permutes extension order)
CHROMIUM_NAME_IN_FIRST_SEGMENT = {1: False, 2: True, 3: False, 4: True, 5: False}


def _corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


# --- building hellos -------------------------------------------------------------------------

def _u16(value: int) -> bytes:
    return struct.pack("!H", value)


def _ext(kind: int, body: bytes) -> bytes:
    return _u16(kind) + _u16(len(body)) + body


def _sni_ext(*entries: tuple[int, bytes], list_length: int | None = None) -> bytes:
    names = b"".join(bytes([kind]) + _u16(len(name)) + name for kind, name in entries)
    return _ext(EXT_SERVER_NAME, _u16(len(names) if list_length is None else list_length) + names)


def _alpn_ext(*names: bytes) -> bytes:
    protocols = b"".join(bytes([len(name)]) + name for name in names)
    return _ext(EXT_ALPN, _u16(len(protocols)) + protocols)


def _body(extensions: bytes | None, session_id: bytes = b"", suites: bytes = b"\x13\x01\x13\x02",
          compression: bytes = b"\x00", block_length: int | None = None) -> bytes:
    fixed = _u16(0x0303) + bytes(range(32)) + bytes([len(session_id)]) + session_id
    fixed += _u16(len(suites)) + suites + bytes([len(compression)]) + compression
    if extensions is None:
        return fixed
    return fixed + _u16(len(extensions) if block_length is None else block_length) + extensions


def _message(body: bytes, kind: int = 1, length: int | None = None) -> bytes:
    return bytes([kind]) + (len(body) if length is None else length).to_bytes(3, "big") + body


def _records(message: bytes, size: int = 16384, content: int = 22, version: int = 0x0301) -> bytes:
    chunks = [message[i:i + size] for i in range(0, len(message), size)] or [b""]
    return b"".join(bytes([content]) + _u16(version) + _u16(len(chunk)) + chunk for chunk in chunks)


def _hello(*extensions: bytes, **body: Any) -> bytes:
    return _records(_message(_body(b"".join(extensions), **body)))


TWITTER = _sni_ext((0, b"twitter.com"))


def _is_bounded(result: object, data: bytes) -> bool:
    """The result is one of the three answers, with fields of the promised types and sizes."""
    if result is None:
        return True
    if isinstance(result, Incomplete):
        return result.needed is None or 0 < result.needed <= MAX_MESSAGE_BYTES + 4
    assert isinstance(result, ClientHello), result
    assert result.sni is None or (isinstance(result.sni, str) and 0 < len(result.sni) <= 255
                                  and result.sni == result.sni.lower() and result.sni.isascii())
    assert all(isinstance(name, str) and name for name in result.alpn)
    assert result.versions and all(0 <= v <= 0xFFFF for v in result.versions)
    assert len(result.extensions) <= len(data) // 4 and len(set(result.extensions)) == len(result.extensions)
    return True


# --- the corpus ------------------------------------------------------------------------------

def test_the_corpus_holds_exactly_the_files_this_test_knows() -> None:
    assert {p.name for p in CORPUS.glob("*.bin")} == set(HELLOS) | set(HTTP_REQUESTS)


@pytest.mark.parametrize("name", sorted(HELLOS))
def test_each_corpus_hello_reads_whole_with_its_sni_ech_alpn_and_versions(name: str) -> None:
    sni, ech, alpn, versions = HELLOS[name]
    hello = read_client_hello(_corpus(name))
    assert isinstance(hello, ClientHello), hello
    assert (hello.sni, hello.ech, hello.alpn, hello.complete) == (sni, ech, alpn, True)
    assert versions is None or hello.versions == versions
    assert (EXT_SERVER_NAME in hello.extensions) == (sni is not None)
    assert is_tls_start(_corpus(name))


@pytest.mark.parametrize("name", [f"chromium-run{n}.bin" for n in range(1, 6)])
def test_chromium_offers_tls13_first_after_grease_and_is_longer_than_one_segment(name: str) -> None:
    hello = read_client_hello(_corpus(name))
    assert isinstance(hello, ClientHello)
    assert hello.versions[1:] == (0x0304, 0x0303) and hello.versions[0] & 0x0F0F == 0x0A0A  # GREASE first
    assert EXT_SUPPORTED_VERSIONS in hello.extensions and EXT_ECH in hello.extensions
    assert len(_corpus(name)) > MSS


@pytest.mark.parametrize(("run", "shown"), sorted(CHROMIUM_NAME_IN_FIRST_SEGMENT.items()))
def test_chromium_first_segment_shows_the_name_only_when_the_permutation_puts_it_there(run: int,
                                                                                       shown: bool) -> None:
    data = _corpus(f"chromium-run{run}.bin")
    first = read_client_hello(data[:MSS])
    if shown:
        assert isinstance(first, ClientHello) and first.sni == "twitter.com" and not first.complete
    else:
        assert first == Incomplete(len(data) - MSS)


@pytest.mark.parametrize("name", sorted(HELLOS))
def test_a_hello_cut_at_every_byte_never_names_another_host(name: str) -> None:
    data = _corpus(name)
    full = read_client_hello(data)
    assert isinstance(full, ClientHello)
    answered = False
    for cut in range(len(data)):
        part = read_client_hello(data[:cut])
        if isinstance(part, Incomplete):
            assert not answered, f"{name}[:{cut}]: a name once shown was taken back"
            # one record carries each hello: the message's missing bytes are the stream's
            assert part.needed is None or part.needed == len(data) - cut, (cut, part)
        else:
            assert isinstance(part, ClientHello), (cut, part)
            assert part.sni == full.sni and not part.complete, (cut, part)
            answered = True


def test_the_name_appears_once_its_extension_is_whole_and_not_a_byte_before() -> None:
    data = _corpus("python-tls13.bin")
    at = data.index(b"twitter.com") + len(b"twitter.com")  # the server_name extension ends here
    assert read_client_hello(data[:at - 1]) == Incomplete(len(data) - at + 1)
    cut = read_client_hello(data[:at])
    assert isinstance(cut, ClientHello) and cut.sni == "twitter.com" and cut.extensions == (EXT_SERVER_NAME,)


@pytest.mark.parametrize("size", [32, 100, 1000, 1460])  # 32: 63 records for Chromium's 2 KB
@pytest.mark.parametrize("name", ["python-tls13.bin", "chromium-run1.bin", "synthetic-ech.bin"])
def test_a_hello_split_over_many_records_reads_as_one(name: str, size: int) -> None:
    data = _corpus(name)
    length = int.from_bytes(data[3:5], "big")
    resplit = _records(data[5:5 + length], size=size)
    assert read_client_hello(resplit) == read_client_hello(data)


def test_a_hello_needing_more_than_64_records_is_not_read() -> None:
    message = _corpus("python-tls13.bin")[5:]
    assert len(message) == 512
    assert read_client_hello(_records(message, size=7)) is None  # 74 records
    assert isinstance(read_client_hello(_records(message, size=8)), ClientHello)  # 64 records


def test_curl_http_request_names_its_host_and_every_cut_waits_or_agrees() -> None:
    data = _corpus("curl-http.bin")
    assert read_http_host(data) == HTTP_REQUESTS["curl-http.bin"]
    assert not is_tls_start(data) and read_client_hello(data) is None
    host_line_end = data.index(b"\n", data.index(b"Host:")) + 1
    for cut in range(len(data)):
        assert read_http_host(data[:cut]) == (Incomplete() if cut < host_line_end else "twitter.com"), cut


@pytest.mark.parametrize("name", sorted(HELLOS))
def test_a_tls_hello_is_not_an_http_request(name: str) -> None:
    assert read_http_host(_corpus(name)) is None


# --- hostile hellos --------------------------------------------------------------------------

def _lie_in_length(data: bytes, at: int, value: int, size: int = 2) -> bytes:
    return data[:at] + value.to_bytes(size, "big") + data[at + size:]


def _set_byte(data: bytes, at: int, value: int) -> bytes:
    return data[:at] + bytes([value]) + data[at + 1:]


HOSTILE_NONE: dict[str, bytes] = {
    "application-data-record": _records(_message(_body(TWITTER)), content=23),
    "change-cipher-spec-record": b"\x14\x03\x03\x00\x01\x01",
    "record-version-0x0200": _records(_message(_body(TWITTER)), version=0x0200),
    "record-version-0x0305": _records(_message(_body(TWITTER)), version=0x0305),
    "server-hello": _records(_message(_body(TWITTER), kind=2)),
    "empty-record": b"\x16\x03\x01\x00\x00" + _hello(TWITTER),
    "record-declares-16385-bytes": b"\x16\x03\x01\x40\x01" + bytes(16385),
    "record-declares-65535-bytes": b"\x16\x03\x01\xff\xff" + bytes(100),
    "message-declares-16-mib": _records(_message(_body(TWITTER), length=0xFFFFFF)),
    "message-declares-64-kib-and-1": _records(_message(_body(TWITTER), length=MAX_MESSAGE_BYTES + 1)),
    "message-declares-10-bytes-less": _records(_message(_body(TWITTER), length=len(_body(TWITTER)) - 10)),
    "message-declares-10-bytes-more": _records(_message(_body(TWITTER), length=len(_body(TWITTER)) + 10)),
    "bytes-after-the-extensions": _records(_message(_body(TWITTER) + bytes(10))),
    "message-shorter-than-the-random": _records(_message(bytes(20))),
    "session-id-of-33-bytes": _hello(TWITTER, session_id=bytes(33)),
    "cipher-suites-odd-length": _hello(TWITTER, suites=b"\x13\x01\x13"),
    "no-cipher-suites": _hello(TWITTER, suites=b""),
    "cipher-suites-overrun-the-message": _lie_in_length(_hello(TWITTER), 9 + 35, 0xFFFF),
    "no-compression-methods": _hello(TWITTER, compression=b""),
    "extensions-block-overruns-the-message": _hello(TWITTER, block_length=len(TWITTER) + 1),
    "extensions-block-ends-before-the-message": _hello(TWITTER, block_length=len(TWITTER) - 1),
    "extension-longer-than-the-block": _hello(_ext(0x1234, b"")[:2] + _u16(100), TWITTER),
    "extension-header-cut-by-the-block": _hello(TWITTER, _ext(0x1234, b"")[:2]),
    "duplicate-extension": _hello(TWITTER, _ext(0x1234, b""), _ext(0x1234, b"")),
    "ten-thousand-empty-extensions-of-one-type": _hello(*[_ext(0x1234, b"")] * 10_000),
    "server-name-extension-empty": _hello(_ext(EXT_SERVER_NAME, b"")),
    "server-name-list-of-zero-entries": _hello(_ext(EXT_SERVER_NAME, _u16(0))),
    "server-name-list-longer-than-its-extension": _hello(_sni_ext((0, b"twitter.com"), list_length=0xFFFF)),
    "server-name-list-shorter-than-its-extension": _hello(_sni_ext((0, b"twitter.com"), list_length=5)),
    "host-name-longer-than-its-list": _hello(_ext(EXT_SERVER_NAME, _u16(14) + b"\x00\x00\x20twitter.com")),
    "host-name-empty": _hello(_sni_ext((0, b""))),
    "nested-lengths-all-0xffff": _hello(_ext(EXT_SERVER_NAME, b"\xff\xff\x00\xff\xfftwitter.com")),
    "alpn-empty-protocol-name": _hello(TWITTER, _alpn_ext(b"h2", b"")),
    "alpn-list-overruns": _hello(TWITTER, _ext(EXT_ALPN, b"\x00\x10\x02h2")),
    "supported-versions-odd-length": _hello(TWITTER, _ext(EXT_SUPPORTED_VERSIONS, b"\x03\x03\x04\x03")),
    "supported-versions-empty-list": _hello(TWITTER, _ext(EXT_SUPPORTED_VERSIONS, b"\x00")),
    "ech-empty": _hello(TWITTER, _ext(EXT_ECH, b"")),
    "ech-unknown-type": _hello(TWITTER, _ext(EXT_ECH, b"\x02")),
    "ech-inner-with-a-payload": _hello(TWITTER, _ext(EXT_ECH, b"\x01\x00")),
    "ech-outer-empty-payload": _hello(TWITTER, _ext(EXT_ECH, b"\x00\x00\x01\x00\x01\x07" + _u16(0) + _u16(0))),
    "ech-outer-enc-overruns": _hello(TWITTER, _ext(EXT_ECH, b"\x00\x00\x01\x00\x01\x07" + _u16(900))),
    "second-record-application-data": _set_byte(_records(_message(_body(_ext(0x1234, bytes(80)) + TWITTER)),
                                                         size=50), 5 + 50, 23),
    "65-one-byte-records": _records(_message(_body(TWITTER)), size=1),
    "sixteen-mib-of-zeros": bytes(16 << 20),
    "http-request": b"GET / HTTP/1.1\r\nHost: twitter.com\r\n\r\n",
    "ssh-banner": b"SSH-2.0-OpenSSH_9.2\r\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_NONE))
def test_a_broken_or_foreign_first_flight_is_not_a_client_hello(name: str) -> None:
    assert read_client_hello(HOSTILE_NONE[name]) is None


def test_a_truncated_hello_waits_and_says_how_many_bytes_its_message_still_needs() -> None:
    data = _hello(_ext(0x1234, bytes(40)), TWITTER)
    assert read_client_hello(b"") == Incomplete()
    assert read_client_hello(data[:3]) == Incomplete()  # the record header is cut
    assert read_client_hello(data[:7]) == Incomplete()  # so is the handshake header
    assert read_client_hello(data[:20]) == Incomplete(len(data) - 20)  # inside the random
    assert read_client_hello(data[:-1]) == Incomplete(1)  # the name is in the last extension
    assert not is_tls_start(data[:4]) and is_tls_start(data[:5])


@pytest.mark.parametrize(("raw", "sni"), [
    (b"twitter.com\x00.example.org", None),  # a C-string matcher would read "twitter.com"
    ("twítter.com".encode(), None),  # IDNs travel as punycode
    (b"twitter .com", None),
    (b"t" * 256, None),
    (b"t" * 255, "t" * 255),
    (b"TWITTER.COM", "twitter.com"),
    (b"_dmarc.twitter.com", "_dmarc.twitter.com"),
    (b"1.2.3.4", "1.2.3.4"),  # RFC 6066 forbids literals; clients send them anyway
])
def test_a_host_name_that_no_list_could_hold_is_tls_without_a_name(raw: bytes, sni: str | None) -> None:
    hello = read_client_hello(_hello(_sni_ext((0, raw))))
    assert isinstance(hello, ClientHello) and hello.complete and hello.sni == sni


def test_the_first_host_name_entry_is_the_name_whatever_comes_before_or_after_it() -> None:
    hello = read_client_hello(_hello(_sni_ext((7, b"opaque"), (0, b"twitter.com"), (0, b"example.org"))))
    assert isinstance(hello, ClientHello) and hello.sni == "twitter.com"
    hello = read_client_hello(_hello(_sni_ext((7, b"opaque"))))
    assert isinstance(hello, ClientHello) and hello.sni is None and hello.extensions == (EXT_SERVER_NAME,)


def test_ten_thousand_empty_extensions_of_distinct_types_read_as_one_hello() -> None:
    data = _hello(*[_ext(0x1000 + i, b"") for i in range(10_000)], TWITTER)
    assert data.count(b"\x16\x03\x01") >= 3  # 40 KB of extensions: three records
    hello = read_client_hello(data)
    assert isinstance(hello, ClientHello) and hello.sni == "twitter.com" and len(hello.extensions) == 10_001


def test_a_hello_without_extensions_is_tls12_without_a_name() -> None:
    hello = read_client_hello(_records(_message(_body(None))))
    assert hello == ClientHello(None, False, (), (0x0303,), True, ())


def test_an_inner_ech_extension_and_alpn_names_outside_ascii_read_without_raising() -> None:
    hello = read_client_hello(_hello(TWITTER, _ext(EXT_ECH, b"\x01"), _alpn_ext(b"h2", b"\xff\x00")))
    assert isinstance(hello, ClientHello) and hello.ech and hello.alpn == ("h2", "\\xff\x00")


def test_what_follows_the_hello_is_not_read() -> None:
    data = _hello(TWITTER)
    for tail in (b"\x17\x03\x03\x00\x05hello", b"\x00" * 100, b"\x16\x03\x01\xff\xff"):
        assert read_client_hello(data + tail) == read_client_hello(data)


def test_the_handshake_header_may_be_split_between_records() -> None:
    message = _message(_body(TWITTER))
    data = _records(message[:2], size=2) + _records(message[2:])
    hello = read_client_hello(data)
    assert isinstance(hello, ClientHello) and hello.sni == "twitter.com" and hello.complete


# --- hostile requests ------------------------------------------------------------------------

REQUEST = b"GET / HTTP/1.1\r\n"


@pytest.mark.parametrize(("data", "answer"), [
    (b"", Incomplete()),
    (b"GE", Incomplete()),
    (b"OPTIONS * HTTP/1.1", Incomplete()),
    (REQUEST, Incomplete()),
    (REQUEST + b"Host: twit", Incomplete()),  # the Host line is not whole yet
    (REQUEST + b"Accept: */*\r\nHost: Twitter.COM:8080\r\n", "twitter.com"),
    (b"GET / HTTP/1.0\nhost: twitter.com\n", "twitter.com"),  # bare LF
    (b"CONNECT twitter.com:443 HTTP/1.1\r\nHOST: twitter.com:443\r\n", "twitter.com"),
    (REQUEST + b"Host: [2001:DB8::1]:443\r\n", "2001:db8::1"),
    (REQUEST + b"Host: [::1]\r\n", "::1"),
    (REQUEST + b"Host: [not-an-address]\r\n", ""),
    (REQUEST + b"Host: [::1\r\n", ""),
    (REQUEST + b"Host: ::1\r\n", ""),  # an IPv6 literal needs its brackets
    (REQUEST + b"Host: twitter.com:http\r\n", ""),
    (REQUEST + b"Host: \r\n", ""),
    (REQUEST + b"Host: tw itter.com\r\n", ""),
    (REQUEST + "Host: twítter.com\r\n".encode(), ""),
    (REQUEST + b"Host: twitter.com\r\nHost: example.org\r\n", "twitter.com"),
    (REQUEST + b"User-Agent: x\r\n\r\nHost: twitter.com\r\n", ""),  # a "Host" in the body is not one
    (REQUEST + b"Host: twitter.com\x00.example.org\r\n", None),  # a NUL: servers refuse the request
    (REQUEST + b"Host : twitter.com\r\n", None),  # space before the colon: RFC 9112 section 5.1
    (REQUEST + b"Accept: */*\r\n folded\r\nHost: twitter.com\r\n", None),
    (REQUEST + b"no colon here\r\n", None),
    (b"get / HTTP/1.1\r\n", None),
    (b"BREW / HTTP/1.1\r\n", None),
    (b"GET / HTTP/2.0\r\n", None),
    (b"GET  / HTTP/1.1\r\n", None),
    (b"GET /\r\n", None),  # HTTP/0.9
    (b"GET / HTTP/1.1 extra\r\n", None),
    (b"\r\nGET / HTTP/1.1\r\n", None),
    (_corpus("python-tls13.bin"), None),
])
def test_a_request_names_its_host_waits_or_is_not_http(data: bytes, answer: object) -> None:
    assert read_http_host(data) == answer


def test_a_header_block_without_host_in_8_kib_is_given_up() -> None:
    filler = REQUEST + b"X-Pad: " + b"a" * 100 + b"\r\n"
    while len(filler) < MAX_HEADER_BYTES + 100:
        filler += b"X-Pad: " + b"a" * 100 + b"\r\n"
    assert read_http_host(filler[:MAX_HEADER_BYTES - 1]) == Incomplete()
    assert read_http_host(filler) is None
    assert read_http_host(filler + b"Host: twitter.com\r\n") is None
    assert read_http_host(REQUEST + b"X-Long: " + b"a" * (16 << 20)) is None


# --- fuzz ------------------------------------------------------------------------------------

SEEDS = [_corpus(name) for name in sorted(HELLOS)]
REQUESTS = [_corpus(name) for name in sorted(HTTP_REQUESTS)] + [
    REQUEST + b"Accept: */*\r\nHost: [::1]:80\r\n\r\n", b"POST /x HTTP/1.0\nHost: a.example\n\n"]


@st.composite
def mutated(draw, seeds: list[bytes]) -> bytes:
    """A seed with a few bytes set, inserted, deleted, or a length-sized field set to 0 or its
    maximum, then maybe cut."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        where = draw(st.integers(0, max(0, len(data) - 1)))
        kind = draw(st.sampled_from(["set", "insert", "delete", "zero-length", "max-length"]))
        if kind == "set" and data:
            data[where] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[where:where + draw(st.integers(1, 64))]
        elif len(data) > where + 1:
            data[where:where + 2] = b"\x00\x00" if kind == "zero-length" else b"\xff\xff"
    if draw(st.booleans()):
        del data[draw(st.integers(0, len(data))):]
    return bytes(data)


TLS_INPUTS = st.one_of(mutated(SEEDS), st.binary(max_size=3000),
                       st.binary(max_size=3000).map(lambda tail: b"\x16\x03\x01" + tail),
                       st.binary(max_size=3000).map(lambda tail: b"\x16\x03\x01\x07\x00\x01\x00\x06\xfc" + tail))
HTTP_INPUTS = st.one_of(mutated(REQUESTS), st.binary(max_size=3000),
                        st.binary(max_size=3000).map(lambda tail: REQUEST + tail))


@FUZZ
@given(TLS_INPUTS, st.integers(0, 4000))
def test_fuzzed_hellos_never_raise_and_a_prefix_never_contradicts_the_whole(data: bytes, cut: int) -> None:
    whole, prefix = read_client_hello(data), read_client_hello(data[:cut])
    assert _is_bounded(whole, data) and _is_bounded(prefix, data[:cut])
    assert isinstance(is_tls_start(data), bool)
    if prefix is None:  # None is final: more bytes never make a hello of what is none
        assert whole is None
    elif isinstance(prefix, ClientHello):  # a name once given stands (later lies may still refuse all)
        assert whole is None or (isinstance(whole, ClientHello) and whole.sni == prefix.sni)


@FUZZ
@given(HTTP_INPUTS, st.integers(0, 4000))
def test_fuzzed_requests_never_raise_and_a_prefix_never_contradicts_the_whole(data: bytes, cut: int) -> None:
    whole, prefix = read_http_host(data), read_http_host(data[:cut])
    for answer in (whole, prefix):
        assert answer is None or answer == Incomplete() or (isinstance(answer, str) and answer == answer.lower())
    if not isinstance(prefix, Incomplete):
        assert whole == prefix
