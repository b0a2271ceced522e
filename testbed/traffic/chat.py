"""A chat-like workload: small messages over one long-lived TCP connection (as XMPP on
5222 or a messenger's TLS socket), each acknowledged by the server. Reports the share of
messages acknowledged within a deadline and their round-trip latency.

    python3 -m testbed.traffic.chat server PORT SECONDS
    python3 -m testbed.traffic.chat client HOST PORT COUNT INTERVAL_S SIZE DEADLINE_S
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass

from testbed.kernel import netns
from testbed.kernel.netns import Endpoint

HEADER = struct.Struct("!IqH")  # message id, send time ns, body length


@dataclass(frozen=True)
class ChatResult:
    sent: int
    delivered: int  # acknowledged within the deadline
    delivery_ratio: float
    latency_p50_ms: float
    latency_p95_ms: float
    connected: bool


def _read_exact(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def serve(port: int, seconds: float) -> None:
    server = socket.socket(socket.AF_INET6)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    server.bind(("::", port))
    server.listen(8)
    server.settimeout(seconds)
    print("ready", flush=True)
    try:
        conn, _ = server.accept()
    except TimeoutError:
        return
    conn.settimeout(seconds)
    try:
        while True:
            header = _read_exact(conn, HEADER.size)
            _, _, length = HEADER.unpack(header)
            _read_exact(conn, length)
            conn.sendall(header[:4])  # the ack: the message id
    except (ConnectionError, TimeoutError, OSError):
        return


def client(host: str, port: int, count: int, interval_s: float, size: int, deadline_s: float) -> dict:
    sent_at: dict[int, int] = {}
    latencies: dict[int, int] = {}
    try:
        conn = socket.create_connection((host, port), timeout=deadline_s)
    except OSError:
        return {"sent": count, "latencies_ns": [], "connected": False}
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def acks() -> None:
        conn.settimeout(deadline_s + interval_s * count + 1)
        try:
            while len(latencies) < count:
                (msg_id,) = struct.unpack("!I", _read_exact(conn, 4))
                latencies[msg_id] = time.time_ns() - sent_at[msg_id]
        except (ConnectionError, TimeoutError, OSError):
            return

    reader = threading.Thread(target=acks, daemon=True)
    reader.start()
    start = time.monotonic()
    try:
        for msg_id in range(count):
            time.sleep(max(0.0, start + msg_id * interval_s - time.monotonic()))
            sent_at[msg_id] = time.time_ns()
            conn.sendall(HEADER.pack(msg_id, sent_at[msg_id], size) + bytes(size))
    except OSError:
        pass
    reader.join(timeout=deadline_s + 1)
    conn.close()
    on_time = [v for v in latencies.values() if v <= deadline_s * 1e9]
    return {"sent": count, "latencies_ns": on_time, "connected": True}


def run_chat(client: Endpoint, server: Endpoint, count: int = 50, interval_s: float = 0.2, size: int = 200,
             deadline_s: float = 5.0, port: int = 5222) -> ChatResult:
    """`count` messages from `client` to `server` over one TCP connection, each acknowledged."""
    seconds = count * interval_s + deadline_s + 5
    module = [sys.executable, "-m", "testbed.traffic.chat"]
    server_argv = [*module, "server", str(port), str(seconds)]
    with netns.serving(server.netns, server_argv):
        args = [server.address(), str(port), str(count), str(interval_s), str(size), str(deadline_s)]
        result = netns.run(client.netns, [*module, "client", *args], timeout=seconds + 30)
    import numpy as np  # here: the chat programs themselves never need it (seconds in the TCG VM)

    report = json.loads(result.stdout)
    latencies = np.array(report["latencies_ns"], dtype=float) / 1e6
    delivered = int(latencies.size)
    return ChatResult(count, delivered, delivered / count,
                      float(np.percentile(latencies, 50)) if delivered else float("nan"),
                      float(np.percentile(latencies, 95)) if delivered else float("nan"),
                      report["connected"])


def main(argv: list[str]) -> int:
    if argv[0] == "server":
        serve(int(argv[1]), float(argv[2]))
        return 0
    host, port, count, interval_s, size, deadline_s = argv[1:7]
    print(json.dumps(client(host, int(port), int(count), float(interval_s), int(size), float(deadline_s))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
