"""The reader process: `python -m testbed.classify.reader SPEC DIRECTORY`, run on the censor node.

It binds the NFQUEUE queue of SPEC (a JSON file written by testbed/kernel/readers.py),
decides each queued flow (testbed/classify/flows.py) and answers every packet with accept,
marking the packet that decides with the flow's bits; the censor's nft rules copy them
into the connection's mark and act on them. Into DIRECTORY it writes `ready` once bound,
`decisions.jsonl` (one line per decided flow, the first MAX_LOGGED), and `summary.json`
(counts, rewritten every second and at exit). SIGTERM or SIGINT ends it cleanly.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import sys
import time
from pathlib import Path

from testbed.classify.flows import Flow, Query, Reader, segment
from testbed.kernel.nfqueue import NF_ACCEPT, Queue

MAX_LOGGED = 10_000  # decisions kept line by line; beyond that only counted
SUMMARY_EVERY_S = 1.0
IDLE_S = 0.05  # no packet for this long: the decisions so far go to the file


class Stop(Exception):
    pass


def _stop(*_: object) -> None:
    raise Stop


def _endpoint(address: bytes, port: int) -> str:
    ip = ipaddress.ip_address(address)
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


def _write_whole(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


class Recorder:
    def __init__(self, directory: Path, tests: list[Query], names: dict[int, str]):
        self.directory = directory
        self.names = names
        # a line a decision, written at once: a run reads them as soon as its phase ends
        self.log = (directory / "decisions.jsonl").open("a", buffering=1)
        self.counts = {"packets": 0, "flows_decided": 0, "logged": 0,
                       "matched": {names[t.bit]: 0 for t in tests}}
        self.started = time.time()
        self.last_summary = 0.0

    def decided(self, key: tuple, bits: int, flow: Flow) -> None:
        self.counts["flows_decided"] += 1
        matched = [name for bit, name in self.names.items() if bits & bit]
        for name in matched:
            self.counts["matched"][name] += 1
        if self.counts["logged"] < MAX_LOGGED:
            self.counts["logged"] += 1
            src, sport, dst, dport = key
            record = {"time": round(time.time(), 6), "client": _endpoint(src, sport),
                      "server": _endpoint(dst, dport), "read": flow.seen, "packets": flow.packets,
                      "matched": matched, "mark": f"{bits:#010x}"}
            self.log.write(json.dumps(record) + "\n")

    def summary(self, reader: Reader, final: bool = False) -> None:
        now = time.time()
        if not final and now - self.last_summary < SUMMARY_EVERY_S:
            return
        self.last_summary = now
        self.log.flush()
        counts = {**self.counts, "late_packets": reader.late_packets, "evicted": reader.evicted,
                  "undecided": len(reader.flows), "started": self.started, "final": final}
        _write_whole(self.directory / "summary.json", json.dumps(counts, indent=1))


def run(spec: dict, directory: Path) -> None:
    tests = [Query(t["bit"], t["kind"], tuple(t["patterns"]), t["packets"], t["reassembly"])
             for t in spec["tests"]]
    names = {t["bit"]: t["name"] for t in spec["tests"]}
    reader = Reader(tests, spec["decided_bit"])
    recorder = Recorder(directory, tests, names)
    with Queue(spec["queue"], fail_open=spec["fail"] == "open") as queue:
        queue.sock.settimeout(IDLE_S)
        (directory / "ready").write_text(str(os.getpid()))
        try:
            while True:
                packets = queue.receive()
                if not packets:
                    recorder.log.flush()
                for packet in packets:
                    recorder.counts["packets"] += 1
                    seg = segment(packet.payload)
                    decided = reader.feed(seg) if seg is not None else None
                    if decided is None:
                        queue.verdict(packet.packet_id, NF_ACCEPT)
                        continue
                    bits, flow = decided
                    queue.verdict(packet.packet_id, NF_ACCEPT, packet.mark | bits)
                    if flow is not None:  # else a packet queued before its flow's verdict
                        recorder.decided(seg.flow, bits, flow)
                recorder.summary(reader)
        finally:
            recorder.summary(reader, final=True)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m testbed.classify.reader SPEC.json DIRECTORY", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    spec = json.loads(Path(argv[1]).read_text())
    try:
        run(spec, Path(argv[2]))
    except Stop:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
