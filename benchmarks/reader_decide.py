"""How many flows a second the reader decides, in process, from real ClientHellos.

The reader's ceiling without the kernel: IP/TCP header parse, ClientHello parse, pattern
match and decision for each flow's hello, one flow after another, on one core. The NFQUEUE
round trip (a recv and a send per packet) comes on top of it.

    .venv/bin/python benchmarks/reader_decide.py [--flows N] [--repeats R]

Prints, per corpus file and reassembly mode, the median of R runs in flows per second and
microseconds per flow, against the issue's target of 20,000 new flows a second.
"""

from __future__ import annotations

import argparse
import statistics
import struct
import time
from pathlib import Path

from testbed.classify.flows import Query, Reader, segment
from testbed.compile.reading import DECIDED_BIT

HELLOS = Path(__file__).parents[1] / "tests" / "data" / "clienthellos"
TARGET_FLOWS_S = 20_000
MSS = 1460


def _packet(payload: bytes, port: int, seq: int) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", port, 443, seq, 0, 5 << 4, 0x18, 1000, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), 0, 0, 64, 6, 0,
                     bytes([198, 18, port >> 8, port & 0xFF]), bytes([198, 19, 0, 2]))
    return ip + tcp + payload


def _flows(hello: bytes, count: int) -> list[list[bytes]]:
    return [[_packet(hello[at:at + MSS], 1024 + i % 60000, 1000 + at) for at in range(0, len(hello), MSS)]
            for i in range(count)]


def run(hello: bytes, reassembly: str, count: int) -> float:
    query = Query(DECIDED_BIT >> 1, "tls_sni", ("*twitter.com", "*.twimg.com", "*t.co*"), 3, reassembly)
    flows = _flows(hello, count)
    reader = Reader([query], DECIDED_BIT)
    start = time.perf_counter()
    for packets in flows:
        for packet in packets:
            if reader.feed(segment(packet)) is not None:
                break
        reader.recently_decided.clear()  # each generated flow reuses ports: keep them new
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{'hello':<22} {'mode':<5} {'flows/s':>9} {'us/flow':>8}  target {TARGET_FLOWS_S} flows/s")
    for name in ("curl-https.bin", "openssl-sni.bin", "chromium-run1.bin"):
        hello = (HELLOS / name).read_bytes()
        for mode in ("none", "full"):
            rates = [run(hello, mode, args.flows) for _ in range(args.repeats)]
            rate = statistics.median(rates)
            verdict = "meets" if rate >= TARGET_FLOWS_S else "below"
            print(f"{name:<22} {mode:<5} {rate:>9,.0f} {1e6 / rate:>8.1f}  {verdict}")


if __name__ == "__main__":
    main()
