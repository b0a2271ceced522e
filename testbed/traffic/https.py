"""HTTPS across the censor, with the handles a reading censor cares about: the server name
(SNI), the HTTP Host and the address chosen apart (domain fronting), TLS 1.2 or 1.3, the
ClientHello split into two TCP segments (zapret's and GoodbyeDPI's trick), or carrying a
GREASE ECH extension (as Chromium's always do).

The client (inside) connects, shakes hands and sends a GET (a download, `down`) or a PUT
whose body it streams (`up`); the receiving side records its progress as `download` does.
Both sides say whether a TCP reset ended their connection, so `reset: both` shows at each end.

    python3 -m testbed.traffic.https server PORT OPTIONS_JSON CERTIFICATE KEY
    python3 -m testbed.traffic.https client HOST PORT OPTIONS_JSON AUTHORITY
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from testbed.traffic.download import CONNECT_TIMEOUT_S, receive_bulk, send_bulk, summarise
from testbed.traffic.tls_hello import split_offset, with_grease_ech

if TYPE_CHECKING:
    from testbed.kernel.netns import Endpoint
    from testbed.traffic.certificates import Certificates

SPLIT_GAP_S = 0.005  # between the two parts of a split hello, so that no stack joins them
VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
MAX_HEADER = 8192
RESPONSE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n"


@dataclass(frozen=True)
class HttpsOptions:
    server_name: str | None  # the SNI; None sends none
    host: str  # the HTTP Host header
    tls: str  # "1.2" or "1.3"
    split_at: int | str | None  # bytes in the hello's first segment, or "sni" (inside the name)
    grease_ech: bool
    direction: str  # "down" or "up"
    size: int  # 0: the whole phase
    seconds: float
    idle_s: float


@dataclass(frozen=True)
class HttpsResult:
    connected: bool  # the TCP handshake completed
    answered: bool  # bytes came back after the ClientHello (the server's first flight)
    handshake: bool  # the TLS handshake completed
    handshake_ms: float  # from connect to the handshake's end (nan without one)
    reset: bool  # the client's connection ended by a TCP reset (or was refused by one)
    server_reset: bool  # the server's connection ended by a TCP reset
    bytes: int
    stalled: bool
    kbit: float
    kbit_steady: float


class TlsStream:
    """TLS over a socket through memory buffers, so that the client decides how its first
    flight goes out. Offers the socket calls that send_bulk and receive_bulk make."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext, server_name: str | None) -> None:
        self.sock = sock
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname=server_name)
        self.pending = b""
        self.answered = False

    def handshake(self, options: HttpsOptions) -> None:
        first = True
        while True:
            try:
                self.tls.do_handshake()
                self.sock.sendall(self.outgoing.read())
                return
            except ssl.SSLWantReadError:
                data = self.outgoing.read()
            if first and data:
                first = False
                if options.grease_ech:
                    data = with_grease_ech(data)
                if options.split_at is not None:
                    cut = split_offset(data, options.split_at, options.server_name)
                    self.sock.sendall(data[:cut])
                    time.sleep(SPLIT_GAP_S)
                    data = data[cut:]
            self.sock.sendall(data)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionAbortedError("the server closed the connection during the handshake")
            self.answered = True
            self.incoming.write(chunk)

    def settimeout(self, seconds: float | None) -> None:
        self.sock.settimeout(seconds)

    def _flush(self) -> None:
        self.pending += self.outgoing.read()
        while self.pending:
            sent = self.sock.send(self.pending)
            self.pending = self.pending[sent:]

    def send(self, data: bytes) -> int:
        self._flush()  # a timeout here leaves the rest pending, and nothing new is taken
        written = self.tls.write(data)
        with contextlib.suppress(TimeoutError):
            self._flush()
        return written

    def sendall(self, data: bytes) -> None:
        self.tls.write(data)
        self._flush()

    def recv(self, size: int) -> bytes:
        while True:
            try:
                return self.tls.read(size)
            except ssl.SSLWantReadError:
                pass
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""
            self._flush()
            chunk = self.sock.recv(65536)
            if not chunk:
                return b""
            self.incoming.write(chunk)

    def shutdown(self, how: int) -> None:
        self.sock.settimeout(CONNECT_TIMEOUT_S)
        self._flush()
        self.sock.shutdown(how)


def _client_context(options: HttpsOptions, authority: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(authority)
    context.check_hostname = options.server_name is not None
    context.minimum_version = context.maximum_version = VERSIONS[options.tls]
    return context


def _request(options: HttpsOptions) -> bytes:
    method = "GET" if options.direction == "down" else "PUT"
    return (f"{method} / HTTP/1.1\r\nHost: {options.host}\r\nUser-Agent: testbed-https\r\n"
            "Connection: close\r\n\r\n").encode()


def _read_head(stream: TlsStream) -> None:
    """The response's head (status line and headers), so that what follows is the body."""
    head = b""
    while not head.endswith(b"\r\n\r\n") and len(head) < MAX_HEADER:
        byte = stream.recv(1)
        if not byte:
            raise ConnectionAbortedError("the server closed the connection before its response")
        head += byte


def _close_gently(sock: socket.socket, drain_s: float) -> None:
    """Send our FIN and read what still comes until the other side's (at most `drain_s`),
    then close: a socket closed with unread bytes sends a reset, which the other side would
    count as the censor's (TLS 1.3 session tickets, the rest of a transfer whose other end
    reached its deadline a moment later). Either end closes so."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)  # done already after an upload or a download's sending
    with contextlib.suppress(OSError):
        deadline = time.monotonic() + drain_s
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            if not sock.recv(65536):
                break
    sock.close()


def client(host: str, port: int, options: HttpsOptions, authority: str) -> dict:
    report = {"connected": False, "answered": False, "handshake": False, "handshake_ms": None,
              "reset": False, "bytes": 0, "stalled": False, "progress": []}
    try:
        sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
    except ConnectionRefusedError:
        return {**report, "reset": True}
    except OSError:
        return report
    report["connected"] = True
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(options.idle_s)
    stream = TlsStream(sock, _client_context(options, authority), options.server_name)
    started = time.monotonic()
    try:
        stream.handshake(options)
        report.update(handshake=True, handshake_ms=(time.monotonic() - started) * 1000)
        stream.sendall(_request(options))
        if options.direction == "down":
            _read_head(stream)
            report.update(receive_bulk(stream, options.size, options.seconds, options.idle_s))  # type: ignore[arg-type]
        else:
            report["reset"] = send_bulk(stream, options.size, options.seconds)  # type: ignore[arg-type]
    except ConnectionResetError:
        report["reset"] = True
    except OSError:  # no answer in time, a failed handshake (ssl.SSLError), a closed connection
        pass
    finally:
        report["answered"] = stream.answered
        if report["handshake"] and not report["reset"]:
            _close_gently(sock, options.idle_s + 1)
        else:
            sock.close()
    return report


def _read_request(conn: ssl.SSLSocket) -> tuple[str, str]:
    """The request's method and Host header, read a byte at a time so that none of a PUT's
    body is taken with it."""
    head = b""
    while not head.endswith(b"\r\n\r\n") and len(head) < MAX_HEADER:
        byte = conn.recv(1)
        if not byte:
            break
        head += byte
    lines = head.decode("latin-1").split("\r\n")
    host = next((line.split(":", 1)[1].strip() for line in lines[1:] if line.lower().startswith("host:")), "")
    return lines[0].split(" ", 1)[0], host


def serve(port: int, options: HttpsOptions, certificate: str, key: str) -> dict:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    listener = socket.socket(socket.AF_INET6)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    listener.bind(("::", port))
    listener.listen(1)
    listener.settimeout(options.seconds + CONNECT_TIMEOUT_S)
    print("ready", flush=True)
    report: dict = {"accepted": False, "handshake": False, "reset": False, "host": None}
    try:
        conn, _ = listener.accept()
    except TimeoutError:
        return report
    report["accepted"] = True
    conn.settimeout(options.idle_s + 1)
    tls = None
    try:
        tls = context.wrap_socket(conn, server_side=True)
        report["handshake"] = True
        method, report["host"] = _read_request(tls)
        if method == "GET":
            tls.sendall(RESPONSE_HEAD)
            report["reset"] = send_bulk(tls, options.size, options.seconds)
        else:
            report["upload"] = receive_bulk(tls, options.size, options.seconds, options.idle_s)
            report["reset"] = report["upload"]["reset"]
    except ConnectionResetError:
        report["reset"] = True
    except OSError:
        pass
    finally:
        if tls is not None and not report["reset"]:
            _close_gently(tls, options.idle_s + 1)  # type: ignore[arg-type]
        conn.close()  # the TLS socket took its descriptor; this closes what a failed handshake left
    return report


def run_https(client_end: Endpoint, server_end: Endpoint, options: HttpsOptions, certificates: Certificates,
              port: int = 443) -> HttpsResult:
    from testbed.kernel import netns

    module = [sys.executable, "-m", "testbed.traffic.https"]
    encoded = json.dumps(asdict(options))
    files = [str(certificates.certificate), str(certificates.key)]
    server_argv = [*module, "server", str(port), encoded, *files]
    with netns.serving(server_end.netns, server_argv) as server_proc:
        result = netns.run(client_end.netns, [*module, "client", server_end.address(), str(port), encoded,
                                              str(certificates.authority)],
                           timeout=options.seconds + options.idle_s + CONNECT_TIMEOUT_S + 30)
        mine = json.loads(result.stdout)
        try:
            remaining, _ = server_proc.communicate(timeout=options.idle_s + CONNECT_TIMEOUT_S)
            theirs = json.loads(remaining.strip().splitlines()[-1])
        except (subprocess.TimeoutExpired, ValueError, IndexError):
            theirs = {}  # the server still waits (a flow the censor swallowed): it saw no reset
    received = mine if options.direction == "down" else theirs.get("upload") or {
        "connected": mine["connected"], "bytes": 0, "stalled": False, "progress": []}
    transfer = summarise({**received, "connected": mine["connected"]})
    handshake_ms = mine["handshake_ms"] if mine["handshake_ms"] is not None else float("nan")
    return HttpsResult(mine["connected"], mine["answered"], mine["handshake"], handshake_ms, mine["reset"],
                       bool(theirs.get("reset")), transfer.bytes, transfer.stalled, transfer.kbit,
                       transfer.kbit_steady)


def main(argv: list[str]) -> int:
    if argv[0] == "server":
        port, encoded, certificate, key = argv[1:5]
        report = serve(int(port), HttpsOptions(**json.loads(encoded)), certificate, key)
    else:
        host, port, encoded, authority = argv[1:5]
        report = client(host, int(port), HttpsOptions(**json.loads(encoded)), authority)
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
