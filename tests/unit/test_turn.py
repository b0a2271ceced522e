"""The TURN server's pure parts (config, certificate, URLs, STUN) and one smoke run of the
real coturn on 127.0.0.1 (no namespace, no root needed beyond what coturn asks for)."""

from __future__ import annotations

import shutil
import socket
import ssl
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from aiortc.rtcicetransport import parse_stun_turn_uri

from testbed.errors import ProgramMissing
from testbed.kernel import netns
from testbed.kernel.netns import Endpoint
from testbed.traffic import turn
from testbed.traffic.turn import TurnServer

ADDRESS = "198.19.3.2"  # in 198.18.0.0/15, where the topology puts its nodes
PEERS = ["198.18.1.2", "198.18.2.2", "2001:db8::2"]


def _config(tmp_path: Path, allow_loopback: bool = False) -> str:
    return turn.render_config(ADDRESS, PEERS, "s3cret", tmp_path / "cert.pem", tmp_path / "pkey.pem",
                              tmp_path, tmp_path / "logs" / "turn.log", allow_loopback=allow_loopback)


def _settings(config: str) -> list[tuple[str, str]]:
    lines = [line for line in config.splitlines() if line and not line.startswith("#")]
    return [(line.partition("=")[0], line.partition("=")[2]) for line in lines]


def test_config_names_the_address_every_peer_and_per_run_paths(tmp_path: Path) -> None:
    settings = _settings(_config(tmp_path))
    values = dict(settings)
    assert values["listening-ip"] == values["relay-ip"] == ADDRESS
    assert (values["listening-port"], values["tls-listening-port"]) == ("3478", "443")
    assert [value for key, value in settings if key == "allowed-peer-ip"] == PEERS
    assert values["userdb"] == str(tmp_path / "turndb")
    assert values["pidfile"] == str(tmp_path / "turnserver.pid")
    assert values["log-file"] == str(tmp_path / "logs" / "turn.log")
    assert values["user"] == "testbed:s3cret"
    assert "denied-peer-ip" not in values and "allow-loopback-peers" not in values
    assert {"lt-cred-mech", "no-dtls", "no-cli", "simple-log", "no-stdout-log", "verbose"} <= set(values)


def test_config_puts_no_comment_after_a_value(tmp_path: Path) -> None:
    # coturn reads "listening-ip=1.2.3.4  # why" as an address with a comment in it
    assert all("#" not in value for _, value in _settings(_config(tmp_path)))


def test_config_allows_loopback_peers_only_when_asked(tmp_path: Path) -> None:
    assert "allow-loopback-peers" in dict(_settings(_config(tmp_path, allow_loopback=True)))


@pytest.mark.parametrize(("address", "peers", "password"), [
    ("198.19.3.2\nno-auth", [], "pw"), ("198.19.3.2", ["evil\nallow-loopback-peers"], "pw"),
    ("198.19.3.2", [], "pw\nno-auth"), ("198.19.3.2", [], ""), ("198.19.3.2", [], "a:b"),
])
def test_config_refuses_values_that_would_add_lines(tmp_path: Path, address: str, peers: list[str],
                                                    password: str) -> None:
    with pytest.raises(ValueError):
        turn.render_config(address, peers, password, tmp_path / "c", tmp_path / "k", tmp_path, tmp_path / "l")


def _handshake(cert: Path, key: Path, ip: str, cafile: Path | None) -> None:
    """A TLS handshake in memory: server with cert+key, client verifying `ip`."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cafile)) if cafile else ssl.create_default_context()
    if hasattr(ssl, "VERIFY_X509_STRICT"):  # Python 3.13's default: the certificate must pass it
        client_ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    pipes = [ssl.MemoryBIO() for _ in range(4)]  # client in, client out, server in, server out
    client = client_ctx.wrap_bio(pipes[0], pipes[1], server_hostname=ip)
    server = server_ctx.wrap_bio(pipes[2], pipes[3], server_side=True)
    done = {"client": False, "server": False}
    for _ in range(10):
        for name, end in (("client", client), ("server", server)):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        pipes[2].write(pipes[1].read())
        pipes[0].write(pipes[3].read())
        if all(done.values()):
            return
    raise AssertionError("the handshake did not finish")


def test_certificate_verifies_for_its_ip_with_itself_as_cafile(tmp_path: Path) -> None:
    cert, key = turn.make_certificate("198.19.3.2", tmp_path)
    assert (cert, key) == (tmp_path / "cert.pem", tmp_path / "pkey.pem")
    assert key.stat().st_mode & 0o777 == 0o600
    _handshake(cert, key, "198.19.3.2", cafile=cert)


def test_certificate_is_refused_without_the_cafile_or_for_another_ip(tmp_path: Path) -> None:
    cert, key = turn.make_certificate("198.19.3.2", tmp_path)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(cert, key, "198.19.3.2", cafile=None)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(cert, key, "198.19.3.3", cafile=cert)


@pytest.mark.parametrize(("kind", "expected"), [
    ("stun", {"scheme": "stun", "host": ADDRESS, "port": 3478}),
    ("turn-udp", {"scheme": "turn", "host": ADDRESS, "port": 3478, "transport": "udp"}),
    ("turn-tcp", {"scheme": "turn", "host": ADDRESS, "port": 3478, "transport": "tcp"}),
    ("turn-tls", {"scheme": "turns", "host": ADDRESS, "port": 443, "transport": "tcp"}),
])
def test_every_url_parses_as_aiortc_reads_it(kind: str, expected: dict, tmp_path: Path) -> None:
    server = TurnServer(ADDRESS, "testbed", "pw", tmp_path / "cert.pem", tmp_path / "turn.log")
    assert parse_stun_turn_uri(server.url(kind)) == expected


def test_url_refuses_an_unknown_kind_and_an_ipv6_address(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="known: stun, turn-udp"):
        TurnServer(ADDRESS, "testbed", "pw", tmp_path, tmp_path).url("turns")
    with pytest.raises(ValueError, match="IPv6"):
        TurnServer("2001:db8::2", "testbed", "pw", tmp_path, tmp_path).url("stun")


def _response(kind: int, transaction: bytes, attributes: bytes = b"") -> bytes:
    return struct.pack("!HHI", kind, len(attributes), 0x2112A442) + transaction + attributes


def test_binding_request_is_a_bare_stun_header() -> None:
    request, transaction = turn.binding_request()
    assert len(request) == 20 and len(transaction) == 12
    assert request == bytes.fromhex("0001 0000 2112a442") + transaction
    assert turn.binding_request()[1] != transaction


def test_binding_success_needs_the_same_transaction_and_the_success_type() -> None:
    _, transaction = turn.binding_request()
    # XOR-MAPPED-ADDRESS 127.0.0.1:40000, as coturn answers
    attribute = bytes.fromhex("0020 0008 0001") + struct.pack("!H", 40000 ^ 0x2112) + bytes.fromhex("5e12a443")
    assert turn.is_binding_success(_response(0x0101, transaction, attribute), transaction)
    assert turn.is_binding_success(_response(0x0101, transaction), transaction)
    assert not turn.is_binding_success(_response(0x0101, bytes(12)), transaction)
    assert not turn.is_binding_success(_response(0x0111, transaction), transaction)
    assert not turn.is_binding_success(_response(0x0101, transaction, attribute)[:-4], transaction)
    assert not turn.is_binding_success(b"", transaction)


def _free_ports() -> tuple[int, int]:
    """A port free for both UDP and TCP, and another free for TCP (the kernel picks; closed
    before coturn binds them, a small race a rerun settles)."""
    for _ in range(50):
        with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, \
                socket.socket() as tls:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            tls.bind(("127.0.0.1", 0))
            return port, tls.getsockname()[1]
    raise AssertionError("no port free for both UDP and TCP")


def _processes_naming(text: str) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:  # it ended while we looked
            continue
    return found


def test_the_wrapper_runs_coturn_until_its_input_closes(tmp_path: Path) -> None:
    assert shutil.which("turnserver"), "turnserver is not installed: apt-get install coturn"
    ports = _free_ports()
    cert, key = turn.make_certificate("127.0.0.1", tmp_path)
    log = tmp_path / "turn.log"
    conf = tmp_path / "turnserver.conf"
    conf.write_text(turn.render_config("127.0.0.1", ["127.0.0.1"], "pw", cert, key, tmp_path, log,
                                       allow_loopback=True, ports=ports))
    argv = [sys.executable, "-m", "testbed.traffic.turn", str(conf), str(cert), "127.0.0.1", *map(str, ports)]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        start = time.monotonic()
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the wrapper's own deadline (10 s) bounds this wait
        assert line == "ready\n", f"not ready: {line!r} {proc.communicate(timeout=15)[1]}"
        assert time.monotonic() - start < 10 + 1
        assert _processes_naming(f"turnserver\0-c\0{conf}\0")
        _, err = proc.communicate(timeout=5)
        assert proc.returncode == 0, err
        assert _processes_naming(f"turnserver\0-c\0{conf}\0") == []
        assert log.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serving_turn_names_the_missing_program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(turn.shutil, "which", lambda name: None)
    endpoint = Endpoint("turn", None, ADDRESS, "2001:db8::2")
    with pytest.raises(ProgramMissing, match="apt-get install coturn"), \
            turn.serving_turn(endpoint, PEERS, tmp_path, tmp_path / "turn.log"):
        pass


def test_serving_turn_starts_the_wrapper_in_the_node_and_closes_its_input(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[tuple[str | None, list[str], bool]] = []
    closed: list[float] = []

    class Wrapper:
        def communicate(self, timeout: float) -> tuple[str, str]:
            closed.append(timeout)
            return "", ""

    @contextmanager
    def serving(ns: str | None, argv: list[str], stdin: bool = False) -> Iterator[Wrapper]:
        started.append((ns, argv, stdin))
        yield Wrapper()

    monkeypatch.setattr(turn.shutil, "which", lambda name: "/usr/bin/turnserver")
    monkeypatch.setattr(netns, "serving", serving)
    endpoint = Endpoint("turn", "tb-1-turn", ADDRESS, "2001:db8::2")
    with turn.serving_turn(endpoint, PEERS, tmp_path / "run", tmp_path / "logs" / "turn.log") as server:
        assert closed == []
    conf = tmp_path / "run" / "turnserver.conf"
    assert started == [("tb-1-turn", [sys.executable, "-m", "testbed.traffic.turn", str(conf),
                                      str(server.cafile), ADDRESS], True)]
    assert closed == [10.0]
    assert conf.stat().st_mode & 0o777 == 0o600  # it holds the password
    assert f"user=testbed:{server.password}\n" in conf.read_text() and len(server.password) >= 16
    assert (server.address, server.user, server.log) == (ADDRESS, "testbed", tmp_path / "logs" / "turn.log")


def test_wait_ready_names_the_transports_that_never_answered(tmp_path: Path) -> None:
    cert, _ = turn.make_certificate("127.0.0.1", tmp_path)
    start = time.monotonic()
    with pytest.raises(TimeoutError, match="did not answer over udp, tcp, tls within 0.3 s"):
        turn.wait_ready("127.0.0.1", cert, 0.3, _free_ports())  # nothing listens there
    assert time.monotonic() - start < 2
    with pytest.raises(TimeoutError, match="stopped before it answered"):
        turn.wait_ready("127.0.0.1", cert, 5, _free_ports(), alive=lambda: False)
