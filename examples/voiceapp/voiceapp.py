#!/usr/bin/env python3
"""A small voice-like UDP app, to try the testbed on an app of your own.

    voiceapp.py serve [--port 5000]                   the far end: echoes every packet back
    voiceapp.py call HOST [--port 5000] [--seconds 4] [--rate 50] [--size 160]

`call` sends SIZE-byte packets RATE times a second (G.711 at 20 ms frames: 50 of 160 bytes)
for SECONDS, counts the echoes that come back within a second, and prints one JSON object
on its last line: {"sent", "received", "loss_pct", "rtt_ms", "rtt_p95_ms"}. The testbed's
`command` workload turns that into metrics (app.loss_pct). Standard library only.
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import struct
import sys
import time

HEADER = struct.Struct("!Id")  # sequence number, send time


def serve(port: int) -> int:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # IPv4 and IPv6 callers alike
    sock.bind(("::", port))
    print(f"listening on udp port {port}", flush=True)
    while True:
        data, peer = sock.recvfrom(65535)
        sock.sendto(data, peer)


def call(host: str, port: int, seconds: float, rate: int, size: int) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.connect((host, port))
    sock.setblocking(False)
    padding = bytes(max(0, size - HEADER.size))
    sent, rtts = 0, {}
    start = time.monotonic()
    end = start + seconds
    while True:
        now = time.monotonic()
        if now >= end + 1.0:  # a second for the last echoes
            break
        if now < end and now >= start + sent / rate:
            sock.send(HEADER.pack(sent, now) + padding)
            sent += 1
        next_send = start + sent / rate if now < end else end + 1.0
        select.select([sock], [], [], max(0.0, next_send - time.monotonic()))  # an echo, or time to send
        try:
            while True:
                data = sock.recv(65535)
                number, sent_at = HEADER.unpack_from(data)
                rtts.setdefault(number, (time.monotonic() - sent_at) * 1000)
        except (BlockingIOError, ConnectionRefusedError):
            pass
    delays = sorted(rtts.values())
    print(json.dumps({
        "sent": sent, "received": len(rtts),
        "loss_pct": round(100 * (sent - len(rtts)) / sent, 2) if sent else 100.0,
        "rtt_ms": round(sum(delays) / len(delays), 2) if delays else None,
        "rtt_p95_ms": round(delays[int(0.95 * (len(delays) - 1))], 2) if delays else None,
    }), flush=True)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    server = sub.add_parser("serve")
    server.add_argument("--port", type=int, default=5000)
    caller = sub.add_parser("call")
    caller.add_argument("host")
    caller.add_argument("--port", type=int, default=5000)
    caller.add_argument("--seconds", type=float, default=4.0)
    caller.add_argument("--rate", type=int, default=50)
    caller.add_argument("--size", type=int, default=160)
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args.port)
    return call(args.host, args.port, args.seconds, args.rate, args.size)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
