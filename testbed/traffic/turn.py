"""A coturn STUN/TURN server on a topology node, for WebRTC calls that cross the censor.

The host side (`serving_turn`) writes a per-run certificate and config and starts, inside
the TURN node, this module's wrapper:

    python -m testbed.traffic.turn CONF CAFILE ADDRESS [UDP_TCP_PORT TLS_PORT]

which starts `turnserver -c CONF`, prints "ready" once STUN answers over UDP, TCP and TLS,
and stops coturn when its standard input closes (or it gets SIGTERM or SIGHUP).

The wrapper runs with the same interpreter in the node: at module level this file imports
only the standard library and testbed.errors (cryptography and pyroute2 are imported where
the host side needs them), so that it starts quickly in the emulated VM.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from testbed.errors import ProgramMissing

if TYPE_CHECKING:
    from testbed.kernel.netns import Endpoint

STUN_PORT = 3478  # UDP and TCP (RFC 8489 section 18.6)
TLS_PORT = 443  # not 5349: TURN over TLS on 443 looks like HTTPS to a censor
TURN_USER = "testbed"
READY_DEADLINE_S = 10.0  # the TCG VM is about ten times slower than native
STOP_TIMEOUT_S = 3.0  # SIGTERM to coturn, then SIGKILL
CLOSE_TIMEOUT_S = 10.0  # host side: the wrapper stops coturn and exits

# STUN (RFC 8489 section 5): type, length, magic cookie, 96-bit transaction id
STUN_HEADER = struct.Struct("!HHI12s")
MAGIC_COOKIE = 0x2112A442
BINDING_REQUEST = 0x0001
BINDING_SUCCESS = 0x0101

PROBE_UDP_S = 0.3  # one probe's wait for an answer (bounded by the deadline too)
PROBE_TCP_S = 1.0
PROBE_PAUSE_S = 0.05  # between rounds of probes
CONFIG_LINE_MAX = 1000  # coturn reads its config with fgets into 1,025 bytes: longer lines split

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
URL_KINDS = ("stun", "turn-udp", "turn-tcp", "turn-tls")


def make_certificate(ip: str, directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for `ip` (its own CA, so clients trust it by naming it as
    cafile or SSL_CERT_FILE), valid for one day; written as cert.pem and pkey.pem."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"testbed turn {ip}")])
    now = datetime.datetime.now(datetime.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    usage = x509.KeyUsage(digital_signature=True, key_cert_sign=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          crl_sign=False, encipher_only=False, decipher_only=False)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            # a few minutes back: the VM's clock and the host's may disagree a little
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
                           critical=False)
            # CA:TRUE and keyCertSign: the certificate is its own trust anchor
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            # SKI/AKI: Python 3.13's default VERIFY_X509_STRICT refuses a CA without them
            .add_extension(ski, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                           critical=False)
            .sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "cert.pem", directory / "pkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), 0o600)  # the mode of os.open applies only to a new file
        out.write(pem)
    return cert_path, key_path


def render_config(address: str, peers: Sequence[str], password: str, cert: Path, pkey: Path,
                  directory: Path, log: Path, allow_loopback: bool = False,
                  ports: tuple[int, int] = (STUN_PORT, TLS_PORT)) -> str:
    """The turnserver.conf of one run. coturn takes no comment after a value on the same
    line, so each reason stands on the line above."""
    for ip in (address, *peers):
        ipaddress.ip_address(ip)  # ValueError: nothing else may reach the config's lines
    if not password or any(c.isspace() or c in ":\"#" for c in password):
        raise ValueError("the TURN password must be non-empty, without spaces, quotes, '#' or ':'")
    lines = [
        "# written by testbed/traffic/turn.py for one run",
        "# the TURN node's address; also the relay address (no NAT in the topology: no external-ip)",
        f"listening-ip={address}",
        f"relay-ip={address}",
        "# STUN and TURN over UDP and TCP",
        f"listening-port={ports[0]}",
        "# TURN over TLS (coturn accepts plain STUN on it too)",
        f"tls-listening-port={ports[1]}",
        "min-port=49152",
        "max-port=65535",
        "realm=testbed",
        "lt-cred-mech",
        f"user={TURN_USER}:{password}",
        "fingerprint",
        f"cert={cert}",
        f"pkey={pkey}",
        "# no DTLS listener: aiortc's TURN client speaks UDP, TCP and TLS only",
        "no-dtls",
        "# no telnet CLI on 5766 (and allow-loopback-peers is refused without it)",
        "no-cli",
        "# no NAT-behaviour discovery: it would listen on a second address and port",
        "no-rfc5780",
        "no-stun-backward-compatibility",
        "response-origin-only-with-rfc5780",
        "no-software-attribute",
        "# coturn denies no private range by default, but say which peers are meant; never copy in",
        "# the common deny list of 198.18.0.0/15: the topology's addresses are in that range",
        *(f"allowed-peer-ip={peer}" for peer in peers),
        *(["# loopback tests relay to 127.0.0.1, which coturn refuses by default",
           "allow-loopback-peers"] if allow_loopback else []),
        "# the default userdb and pidfile are shared by every run on the machine (same filesystem)",
        f"userdb={directory / 'turndb'}",
        f"pidfile={directory / 'turnserver.pid'}",
        "# simple-log: the file is named as given (no date appended)",
        f"log-file={log}",
        "simple-log",
        "no-stdout-log",
        "# without it, no per-session lines (with their usage counters) in the log",
        "verbose",
    ]
    for line in lines:
        if len(line) > CONFIG_LINE_MAX or "\n" in line:
            raise ValueError(f"turnserver.conf line too long for coturn: {line[:80]}...")
    return "\n".join(lines) + "\n"


def binding_request() -> tuple[bytes, bytes]:
    """A STUN Binding request with no attributes (answered without credentials), and its
    transaction id."""
    transaction = os.urandom(12)
    return STUN_HEADER.pack(BINDING_REQUEST, 0, MAGIC_COOKIE, transaction), transaction


def is_binding_success(response: bytes, transaction: bytes) -> bool:
    """A whole Binding success response to the request with id `transaction`."""
    if len(response) < STUN_HEADER.size:
        return False
    kind, length, cookie, tid = STUN_HEADER.unpack_from(response)
    return (kind == BINDING_SUCCESS and cookie == MAGIC_COOKIE and tid == transaction
            and len(response) >= STUN_HEADER.size + length)


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET


def _probe_udp(address: str, port: int, timeout_s: float) -> bool:
    request, transaction = binding_request()
    with socket.socket(_family(address), socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout_s)
        try:
            sock.connect((address, port))  # connected: an ICMP port unreachable fails fast
            sock.send(request)
            return is_binding_success(sock.recv(2048), transaction)
        except OSError:
            return False


def _length(message: bytes) -> int:
    return STUN_HEADER.unpack_from(message)[1]


def _probe_stream(address: str, port: int, timeout_s: float, tls: ssl.SSLContext | None) -> bool:
    request, transaction = binding_request()
    try:
        with contextlib.ExitStack() as stack:
            sock = stack.enter_context(socket.create_connection((address, port), timeout=timeout_s))
            if tls:  # the TLS socket takes over the descriptor: close that one
                sock = stack.enter_context(tls.wrap_socket(sock, server_hostname=address))
            sock.sendall(request)
            response = b""
            while len(response) < STUN_HEADER.size or len(response) < STUN_HEADER.size + _length(response):
                chunk = sock.recv(2048)  # a stream: the message may come in pieces
                if not chunk:
                    return False
                response += chunk
            return is_binding_success(response, transaction)
    except OSError:  # ssl.SSLError too: refused, reset, timed out, or not verified
        return False


def wait_ready(address: str, cafile: Path, deadline_s: float, ports: tuple[int, int] = (STUN_PORT, TLS_PORT),
               alive: Callable[[], bool] | None = None) -> dict[str, float]:
    """Poll until a STUN Binding succeeds over UDP, TCP and TLS (verified against `cafile`
    for `address`); return the seconds each took. TimeoutError, naming the transports that
    never answered, when `deadline_s` passes or `alive()` turns False (the server exited)."""
    context = ssl.create_default_context(cafile=str(cafile))
    probes: dict[str, Callable[[float], bool]] = {
        "udp": lambda t: _probe_udp(address, ports[0], min(t, PROBE_UDP_S)),
        "tcp": lambda t: _probe_stream(address, ports[0], min(t, PROBE_TCP_S), None),
        "tls": lambda t: _probe_stream(address, ports[1], min(t, PROBE_TCP_S), context),
    }
    start = time.monotonic()
    ready: dict[str, float] = {}
    while True:
        for name, probe in probes.items():
            left = deadline_s - (time.monotonic() - start)
            if name not in ready and left > 0 and probe(left):
                ready[name] = time.monotonic() - start
        if len(ready) == len(probes):
            return ready
        missing = ", ".join(name for name in probes if name not in ready)
        if alive is not None and not alive():
            raise TimeoutError(f"the STUN/TURN server on {address} stopped before it answered over {missing}")
        if time.monotonic() - start >= deadline_s:
            raise TimeoutError(f"the STUN/TURN server on {address} did not answer over {missing} "
                               f"within {deadline_s:g} s (ports {ports[0]}, TLS {ports[1]})")
        time.sleep(PROBE_PAUSE_S)


@dataclass(frozen=True)
class TurnServer:
    """A running STUN/TURN server, as the peers of a call are told about it."""

    address: str
    user: str
    password: str
    cafile: Path  # the server's self-signed certificate: clients trust it (SSL_CERT_FILE)
    log: Path

    def url(self, kind: str) -> str:
        """The URI for `kind` (one of URL_KINDS), in the form aiortc's RTCIceServer takes."""
        if ipaddress.ip_address(self.address).version == 6:
            # aiortc 1.16's parse_stun_turn_uri takes no colon in the host, bracketed or not
            raise ValueError(f"aiortc cannot take an IPv6 STUN/TURN server address: {self.address}")
        urls = {
            "stun": f"stun:{self.address}:{STUN_PORT}",
            "turn-udp": f"turn:{self.address}:{STUN_PORT}?transport=udp",
            "turn-tcp": f"turn:{self.address}:{STUN_PORT}?transport=tcp",
            # the port always: the turns: default is 5349
            "turn-tls": f"turns:{self.address}:{TLS_PORT}?transport=tcp",
        }
        if kind not in urls:
            raise ValueError(f"unknown STUN/TURN URL kind {kind!r}; known: {', '.join(URL_KINDS)}")
        return urls[kind]


@contextmanager
def serving_turn(endpoint: Endpoint, peers: Sequence[str], directory: Path,
                 log: Path) -> Iterator[TurnServer]:
    """Run coturn at `endpoint` (its IPv4 address) for the given peer addresses until the
    block ends; its config, certificate and database live in `directory`, its log at `log`."""
    from testbed.kernel import netns  # host side only (see the module docstring)

    if shutil.which("turnserver") is None:
        raise ProgramMissing("turnserver", "coturn", "the TURN server of webrtc calls")
    directory.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    address = endpoint.ipv4
    cert, pkey = make_certificate(address, directory)
    password = secrets.token_urlsafe(16)
    conf = directory / "turnserver.conf"
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the password
    with os.fdopen(fd, "w") as out:
        out.write(render_config(address, peers, password, cert, pkey, directory, log))
    argv = [sys.executable, "-m", "testbed.traffic.turn", str(conf), str(cert), address]
    with netns.serving(endpoint.netns, argv, stdin=True) as proc:
        try:
            yield TurnServer(address, TURN_USER, password, cert, log)
        finally:
            # closing stdin tells the wrapper to stop coturn, which completes the log; if it
            # hangs, netns.serving kills the wrapper and coturn follows (PR_SET_PDEATHSIG)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.communicate(timeout=CLOSE_TIMEOUT_S)


class _Stop(Exception):
    """SIGTERM or SIGHUP reached the wrapper: stop coturn as on end of input."""


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop


def _die_with_parent() -> Callable[[], None]:
    """A preexec_fn: the child gets SIGTERM when the wrapper dies, even by SIGKILL."""
    import ctypes  # loaded before the fork: a preexec_fn should do little

    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the wrapper died before prctl: nobody would signal us
            os._exit(1)

    return preexec


def _stop(proc: subprocess.Popen[bytes]) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second signal must not cut the stop short
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: Sequence[str]) -> int:
    if len(argv) not in (3, 5):
        print("usage: python -m testbed.traffic.turn CONF CAFILE ADDRESS [UDP_TCP_PORT TLS_PORT]",
              file=sys.stderr)
        return 2
    conf, cafile, address = argv[0], Path(argv[1]), argv[2]
    ports = (int(argv[3]), int(argv[4])) if len(argv) == 5 else (STUN_PORT, TLS_PORT)
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGHUP, _raise_stop)
    proc: subprocess.Popen[bytes] | None = None
    try:
        # its output is not a readiness signal: without SCTP it prints "socket: Protocol not supported"
        proc = subprocess.Popen(["turnserver", "-c", conf], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                preexec_fn=_die_with_parent())
        running = proc
        try:
            wait_ready(address, cafile, READY_DEADLINE_S, ports, alive=lambda: running.poll() is None)
        except TimeoutError as error:
            code = proc.poll()
            exited = "" if code is None else (f" (turnserver exited with code {code}: "
                                              f"see the log-file of {conf})")
            print(f"{error}{exited}", file=sys.stderr)
            return 1
        print("ready", flush=True)
        sys.stdin.read()  # until the host closes it
    except _Stop:
        pass
    finally:
        if proc is not None:
            _stop(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
