"""The https workload's own parts that need no network: what it does to its ClientHello
(checked with the reader's parser, and against OpenSSL where it answers), and the
certificates it makes (checked by a real TLS handshake over a socket pair)."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from testbed.classify.tls import ClientHello, read_client_hello
from testbed.traffic.certificates import make_certificates
from testbed.traffic.tls_hello import (
    ECH_EXTENSION,
    PADDING_EXTENSION,
    NotAClientHello,
    split_offset,
    with_grease_ech,
)

HELLOS = Path(__file__).parents[1] / "data" / "clienthellos"
PYTHON_HELLO = (HELLOS / "python-tls13.bin").read_bytes()


def _parsed(record: bytes) -> ClientHello:
    hello = read_client_hello(record)
    assert isinstance(hello, ClientHello) and hello.complete
    return hello


@pytest.mark.parametrize("name", ["python-tls13", "python-tls12", "curl-https", "openssl-sni", "chromium-run1"])
def test_grease_ech_keeps_the_hello_whole_and_adds_the_extension_once(name: str) -> None:
    original = (HELLOS / f"{name}.bin").read_bytes()
    before = _parsed(original)
    after = _parsed(with_grease_ech(original, seed=1))
    assert after.ech and after.extensions.count(ECH_EXTENSION) == 1 and PADDING_EXTENSION not in after.extensions
    assert after.sni == before.sni and after.alpn == before.alpn and after.versions == before.versions
    assert [e for e in before.extensions if e not in (ECH_EXTENSION, PADDING_EXTENSION)] == \
        [e for e in after.extensions if e != ECH_EXTENSION]


def test_grease_ech_is_random_unless_seeded() -> None:
    assert with_grease_ech(PYTHON_HELLO, seed=7) == with_grease_ech(PYTHON_HELLO, seed=7)
    assert with_grease_ech(PYTHON_HELLO) != with_grease_ech(PYTHON_HELLO)


@pytest.mark.parametrize("data", [b"", b"GET / HTTP/1.1\r\n\r\n", PYTHON_HELLO[:-1], PYTHON_HELLO + b"\x00",
                                  (HELLOS / "curl-http.bin").read_bytes()])
def test_grease_ech_refuses_what_is_not_one_whole_hello(data: bytes) -> None:
    with pytest.raises(NotAClientHello):
        with_grease_ech(data)


def test_split_at_sni_cuts_inside_the_name() -> None:
    start = PYTHON_HELLO.find(b"twitter.com")
    cut = split_offset(PYTHON_HELLO, "sni", "twitter.com")
    assert start < cut < start + len("twitter.com")
    first, second = PYTHON_HELLO[:cut], PYTHON_HELLO[cut:]
    assert b"twitter.com" not in first and b"twitter.com" not in second


@given(st.integers(min_value=-5, max_value=2000))
def test_split_at_a_byte_leaves_both_segments_something(split_at: int) -> None:
    cut = split_offset(PYTHON_HELLO, split_at, None)
    assert 1 <= cut <= len(PYTHON_HELLO) - 1
    if 1 <= split_at < len(PYTHON_HELLO):
        assert cut == split_at


def test_split_at_sni_needs_the_name_in_the_hello() -> None:
    with pytest.raises(ValueError, match="does not carry"):
        split_offset(PYTHON_HELLO, "sni", "example.org")
    with pytest.raises(ValueError, match="needs a server name"):
        split_offset(PYTHON_HELLO, "sni", None)


def test_the_run_certificates_pass_a_real_verifying_handshake(tmp_path: Path) -> None:
    made = make_certificates(tmp_path, ["twitter.com", "198.19.0.2"])
    assert oct(made.key.stat().st_mode & 0o777) == "0o600"
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(made.certificate, made.key)
    client_context = ssl.create_default_context(cafile=str(made.authority))

    def handshake(name: str) -> str | None:
        """The client's verification error for `name`, None if it verified."""
        near, far = socket.socketpair()
        served = threading.Thread(target=lambda: _serve_once(server_context, far), daemon=True)
        served.start()
        try:
            with client_context.wrap_socket(near, server_hostname=name):
                return None
        except ssl.SSLCertVerificationError as exc:
            return exc.verify_message
        finally:
            served.join(5)

    assert handshake("twitter.com") is None
    assert "mismatch" in (handshake("example.org") or "")


def _serve_once(context: ssl.SSLContext, sock: socket.socket) -> None:
    try:
        with context.wrap_socket(sock, server_side=True):
            pass
    except (ssl.SSLError, OSError):
        sock.close()


def test_an_unquoted_tls_version_is_the_version_it_spells() -> None:
    from pydantic import ValidationError

    from testbed.scenario.workloads.https import Https

    assert Https.model_validate({"type": "https", "tls": 1.2}).tls == "1.2"
    with pytest.raises(ValidationError, match="'1.2' or '1.3'"):
        Https.model_validate({"type": "https", "tls": 1.1})
