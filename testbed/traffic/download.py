"""A bulk TCP transfer that notices stalls: the workload behind the "16 KB freeze" and the
Twitter throttle. The client (inside) connects to the server (outside); data flows
server -> client (`down`, a download) or client -> server (`up`). The receiving side
records its progress, so a connection that stops moving without a reset (a censor
silently dropping) is reported as stalled, with the bytes that got through.

    python3 -m testbed.traffic.download server PORT DIRECTION SIZE SECONDS IDLE_S
    python3 -m testbed.traffic.download client HOST PORT DIRECTION SIZE SECONDS IDLE_S
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the worker side stays light: it starts inside a namespace, maybe under TCG
    from testbed.kernel.netns import Endpoint

CHUNK = 16384
CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class DownloadResult:
    connected: bool
    bytes: int  # received by the receiving side
    stalled: bool  # no progress for the idle timeout before the transfer ended
    kbit: float  # mean rate from the first byte to the last
    kbit_steady: float  # mean rate over the second half of the transfer's time


def send_bulk(conn: socket.socket, size: int, seconds: float) -> bool:
    """Send `size` bytes (0: until the deadline); True if the peer reset the connection."""
    block = bytes(CHUNK)
    sent = 0
    deadline = time.monotonic() + seconds
    conn.settimeout(1.0)
    while (size == 0 or sent < size) and time.monotonic() < deadline:
        try:
            sent += conn.send(block if size == 0 else block[: min(CHUNK, size - sent)])
        except TimeoutError:
            continue  # the censor holds the window shut: keep trying until the deadline
        except OSError as exc:
            return isinstance(exc, ConnectionResetError)
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_WR)
    return False


def receive_bulk(conn: socket.socket, size: int, seconds: float, idle_s: float) -> dict:
    """Read until EOF, `size` bytes, the deadline, or `idle_s` without a byte (a stall)."""
    progress: list[tuple[float, int]] = []
    total, stalled, reset = 0, False, False
    start = time.monotonic()
    deadline = start + seconds
    conn.settimeout(min(idle_s, 0.5))
    last_byte_at = start
    while time.monotonic() < deadline and (size == 0 or total < size):
        try:
            chunk = conn.recv(65536)
        except TimeoutError:
            if time.monotonic() - last_byte_at >= idle_s:
                stalled = True
                break
            continue
        except OSError as exc:
            reset = isinstance(exc, ConnectionResetError)
            break
        if not chunk:
            break
        total += len(chunk)
        last_byte_at = time.monotonic()
        progress.append((last_byte_at - start, total))
    step = len(progress) // 4096 + 1  # keep the report small: at most ~4096 samples
    kept = progress[::step] + ([progress[-1]] if progress and step > 1 else [])
    return {"connected": True, "bytes": total, "stalled": stalled, "reset": reset, "progress": kept}


def serve(port: int, direction: str, size: int, seconds: float, idle_s: float) -> dict | None:
    server = socket.socket(socket.AF_INET6)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    server.bind(("::", port))
    server.listen(1)
    server.settimeout(seconds + CONNECT_TIMEOUT_S)
    print("ready", flush=True)
    try:
        conn, _ = server.accept()
    except TimeoutError:
        return {"connected": False, "bytes": 0, "stalled": False, "progress": []}
    if direction == "down":
        send_bulk(conn, size, seconds)
        return None
    return receive_bulk(conn, size, seconds, idle_s)


def client(host: str, port: int, direction: str, size: int, seconds: float, idle_s: float) -> dict | None:
    try:
        conn = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
    except OSError:
        return {"connected": False, "bytes": 0, "stalled": False, "progress": []}
    if direction == "down":
        return receive_bulk(conn, size, seconds, idle_s)
    send_bulk(conn, size, seconds)
    return None


def summarise(report: dict) -> DownloadResult:
    progress = report["progress"]
    kbit = steady = 0.0
    if len(progress) >= 2:
        (t0, b0), (t1, b1) = progress[0], progress[-1]
        kbit = (b1 - b0) * 8 / max(t1 - t0, 1e-9) / 1000
        middle = t0 + (t1 - t0) / 2
        half = [(t, b) for t, b in progress if t >= middle]
        if len(half) >= 2:
            steady = (half[-1][1] - half[0][1]) * 8 / max(half[-1][0] - half[0][0], 1e-9) / 1000
    return DownloadResult(report["connected"], report["bytes"], report["stalled"], kbit, steady)


def run_download(client: Endpoint, server: Endpoint, direction: str = "down", size: int = 0,
                 seconds: float = 10.0, idle_s: float = 2.0, port: int = 8080) -> DownloadResult:
    from testbed.kernel import netns

    module = [sys.executable, "-m", "testbed.traffic.download"]
    args = [direction, str(size), str(seconds), str(idle_s)]
    with netns.serving(server.netns, [*module, "server", str(port), *args]) as server_proc:
        result = netns.run(client.netns, [*module, "client", server.address(), str(port), *args],
                           timeout=seconds + CONNECT_TIMEOUT_S + 30)
        report = json.loads(result.stdout)
        if report is None:  # an upload: the server received and measured
            remaining, _ = server_proc.communicate(timeout=seconds + idle_s + 10)
            report = json.loads(remaining.strip().splitlines()[-1])
    return summarise(report)


def main(argv: list[str]) -> int:
    if argv[0] == "server":
        port, direction, size, seconds, idle_s = argv[1:6]
        report = serve(int(port), direction, int(size), float(seconds), float(idle_s))
    else:
        host, port, direction, size, seconds, idle_s = argv[1:7]
        report = client(host, int(port), direction, int(size), float(seconds), float(idle_s))
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
