"""UDP probes with chosen bytes: what a censor's payload rules see. Each datagram is
`size` bytes of payload beginning with `prefix` (hex) and ending with a 4-byte sequence
number; an optional `first` datagram (e.g. a 148-byte WireGuard handshake initiation)
opens the flow. All datagrams share one source port, so they are one conntrack flow.
The receiver counts the distinct sequence numbers that arrive.

    python3 -m testbed.traffic.probe receive PORT SECONDS
    python3 -m testbed.traffic.probe send HOST PORT SRC_PORT COUNT INTERVAL_S SIZE PREFIX \
        FIRST_SIZE FIRST_PREFIX
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import struct
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the worker side stays light: it starts inside a namespace, maybe under TCG
    from testbed.kernel.netns import Endpoint

SEQ = struct.Struct("!I")
GRACE_S = 1.0  # how long the receiver keeps listening after the sender has finished


@dataclass(frozen=True)
class ProbeResult:
    sent: int
    received: int
    first_received: bool  # the opening datagram (sequence 0) arrived

    @property
    def delivered(self) -> float:
        return self.received / self.sent if self.sent else 0.0


def datagram(seq: int, size: int, prefix: bytes) -> bytes:
    """Exactly `size` bytes: `prefix`, zero padding, then the sequence number."""
    if size < len(prefix) + SEQ.size:
        raise ValueError(f"a {size}-byte probe cannot hold a {len(prefix)}-byte prefix "
                         "and its sequence number")
    return prefix + bytes(size - len(prefix) - SEQ.size) + SEQ.pack(seq)


def send(host: str, port: int, src_port: int, count: int, interval_s: float, size: int, prefix: bytes,
         first: tuple[int, bytes] | None) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", src_port))
    start = time.monotonic()
    for seq in range(count):
        time.sleep(max(0.0, start + seq * interval_s - time.monotonic()))
        body = datagram(seq, *first) if seq == 0 and first else datagram(seq, size, prefix)
        with contextlib.suppress(OSError):  # an ICMP error from a reject: keep probing
            sock.sendto(body, (host, port))


def receive(port: int, seconds: float) -> dict:
    """Count datagrams until stdin closes (the sender is done) plus GRACE_S, or `seconds`."""
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind(("::", port))
    print("ready", flush=True)
    seen: set[int] = set()
    deadline = time.monotonic() + seconds
    watching = [sock, sys.stdin]
    while (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select(watching, [], [], left)
        if sys.stdin in readable and not sys.stdin.readline():
            watching.remove(sys.stdin)
            deadline = min(deadline, time.monotonic() + GRACE_S)
        if sock in readable:
            data = sock.recv(65536)
            if len(data) >= SEQ.size:
                seen.add(SEQ.unpack(data[-SEQ.size:])[0])
    return {"received": sorted(seen)}


def run_probe(client: Endpoint, server: Endpoint, port: int = 443, src_port: int = 0, count: int = 20,
              interval_s: float = 0.05, size: int = 1200, prefix: str = "",
              first: tuple[int, str] | None = None) -> ProbeResult:
    """`count` datagrams from `client` to `server`'s `port`, counted where they arrive."""
    from testbed.kernel import netns

    send_s = count * interval_s
    limit_s = send_s + 120  # the receiver's own safety stop; it normally ends when the sender has
    module = [sys.executable, "-m", "testbed.traffic.probe"]
    receiver_argv = [*module, "receive", str(port), str(limit_s)]
    with netns.serving(server.netns, receiver_argv, stdin=True) as receiver_proc:
        first_args = [str(first[0]), first[1]] if first else ["0", ""]
        netns.run(client.netns, [
            *module, "send", server.address(), str(port), str(src_port), str(count),
            str(interval_s), str(size), prefix, *first_args], timeout=limit_s)
        out, _ = receiver_proc.communicate(timeout=GRACE_S + 30)  # closes stdin: the sender is done
    received = json.loads(out.strip().splitlines()[-1])["received"]
    return ProbeResult(count, len(received), 0 in received)


def main(argv: list[str]) -> int:
    if argv[0] == "receive":
        print(json.dumps(receive(int(argv[1]), float(argv[2]))), flush=True)
        return 0
    host, port, src_port, count, interval_s, size, prefix, first_size, first_prefix = argv[1:10]
    first = (int(first_size), bytes.fromhex(first_prefix)) if int(first_size) else None
    send(host, int(port), int(src_port), int(count), float(interval_s), int(size), bytes.fromhex(prefix),
         first)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
