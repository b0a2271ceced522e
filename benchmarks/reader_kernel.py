"""The reading censor through the kernel: how many new TLS flows a second its reader decides
through NFQUEUE, how long a queued packet stays in the censor, and whether any packet of a
decided flow still reaches the reader.

    sudo .venv/bin/python benchmarks/reader_kernel.py [--seconds S] [--latency-rate N]

A caller -- censor -- callee topology with ru-2021-twitter-throttle's reading class (read
as the TSPU blocker reads: 3 packets, joined). The load generator (caller) and the server
(callee) are pinned to CPU 0, the reader to CPU 1.

1. Throughput: the generator opens TCP connections as fast as it can for S seconds, each
   sending curl's ClientHello (tests/data/clienthellos/curl-https.bin) and closing with a
   reset. It prints connections made and flows the reader decided, per second.
2. Latency: at N connections a second, tcpdump on both censor interfaces (nanosecond
   stamps) times each packet from in0 to out0: the ClientHello (queued) against the SYN of
   the same flow (not queued); the difference is what the reader adds.
3. Late packets: the reader's count of packets of flows it had already decided (the kernel
   should keep them: the ct mark says decided). Should be 0.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from testbed.kernel import netns, readers
from testbed.profile.loader import load_profile
from testbed.scenario.session import Experiment

ROOT = Path(__file__).parents[1]
HELLO = ROOT / "tests" / "data" / "clienthellos" / "curl-https.bin"
TARGET_FLOWS_S = 20_000
TARGET_P99_US = 200
PORT = 443

PROFILE = """name: reader-bench
title: the reading class of ru-2021-twitter-throttle, read as TSPU's blocker reads
confidence: guessed
classes:
  - name: twitter
    match: {protocol: tcp, tls_sni: ["*twitter.com", "*.twimg.com", "*t.co*"]}
    read: {packets: 3, reassembly: full, fail: open}
    both: {police: {rate: 150kbit, burst: 16KiB, per: flow}}
"""

SERVER = """
import selectors, socket
listener = socket.socket(socket.AF_INET6)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
listener.bind(("::", PORT)); listener.listen(4096); listener.setblocking(False)
selector = selectors.DefaultSelector(); selector.register(listener, selectors.EVENT_READ)
print("ready", flush=True)
while True:
    for key, _ in selector.select():
        if key.fileobj is listener:
            while True:
                try:
                    conn, _ = listener.accept()
                except BlockingIOError:
                    break
                conn.setblocking(False); selector.register(conn, selectors.EVENT_READ)
        else:
            try:
                data = key.fileobj.recv(65536)
            except OSError:
                data = b""
            if not data:
                selector.unregister(key.fileobj); key.fileobj.close()
""".replace("PORT", str(PORT))

GENERATOR = """
import selectors, socket, struct, sys, time
host, seconds, rate = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
hello = open(sys.argv[4], "rb").read()
linger = struct.pack("ii", 1, 0)  # close with a reset: no TIME_WAIT to run out of ports
selector = selectors.DefaultSelector()
made = failed = opened = 0
start = time.monotonic(); deadline = start + seconds
while time.monotonic() < deadline or selector.get_map():
    now = time.monotonic()
    due = opened < (now - start) * rate if rate > 0 else len(selector.get_map()) < 256
    while due and now < deadline and len(selector.get_map()) < 256:
        s = socket.socket(); s.setblocking(False); s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        s.connect_ex((host, PORT)); selector.register(s, selectors.EVENT_WRITE); opened += 1
        due = opened < (now - start) * rate if rate > 0 else len(selector.get_map()) < 256
    for key, _ in selector.select(0.001 if rate > 0 else 0.05):
        s = key.fileobj; selector.unregister(s)
        if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
            s.send(hello); made += 1
        else:
            failed += 1
        s.close()
    if time.monotonic() > deadline + 5:
        break
print(made, failed, time.monotonic() - start, flush=True)
""".replace("PORT", str(PORT))


def _pinned(cpu: int, argv: list[str]) -> list[str]:
    return ["taskset", "-c", str(cpu), *argv] if (os.cpu_count() or 1) >= 2 else argv


def _generate(session: Experiment, seconds: float, rate: float) -> tuple[int, int, float]:
    code = netns.run(session.state.node("caller").netns, _pinned(0, [
        sys.executable, "-c", GENERATOR, session.state.node("callee").address(), str(seconds), str(rate),
        str(HELLO)]), timeout=seconds + 60)
    made, failed, took = code.stdout.split()
    return int(made), int(failed), float(took)


def _queue_drops(ns: str) -> tuple[int, int]:
    """Packets the kernel could not queue (queue full) and the reader's socket lost, for queue 0
    (/proc/net/netfilter/nfnetlink_queue: number, portid, waiting, mode, range, dropped,
    user dropped, id)."""
    for line in netns.run(ns, ["cat", "/proc/net/netfilter/nfnetlink_queue"]).stdout.splitlines():
        fields = line.split()
        if fields and fields[0] == "0":
            return int(fields[5]), int(fields[6])
    return 0, 0


def _cpu_seconds(pid: int) -> float:
    """User and system time the process has used (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _summary(ns: str) -> dict:
    time.sleep(1.2)  # the reader writes its summary every second
    return readers.summary(ns, "testbed") or {}


def _packets(pcap: Path) -> dict[tuple[str, str, str], float]:
    """(source port, raw sequence number, payload length) -> when tcpdump saw it."""
    fields = subprocess.run(["tshark", "-r", str(pcap), "-Y", "tcp.dstport == 443", "-T", "fields", "-e",
                             "frame.time_epoch", "-e", "tcp.srcport", "-e", "tcp.seq_raw", "-e", "tcp.len"],
                            capture_output=True, text=True, check=True).stdout
    seen = {}
    for line in fields.splitlines():
        stamp, port, seq, length = line.split("\t")
        seen.setdefault((port, seq, length), float(stamp))
    return seen


def _latency(session: Experiment, rate: float, seconds: float,
             folder: Path) -> tuple[list[float], list[float]]:
    ns = session.state.censor.netns
    dumps = []
    for interface in ("in0", "out0"):
        path = folder / f"{interface}.pcap"
        dumps.append((path, subprocess.Popen(netns.command(ns, _pinned(0, [
            "tcpdump", "-i", interface, "-n", "-U", "--immediate-mode", "--time-stamp-precision=nano", "-s",
            "128", "-w", str(path), f"tcp dst port {PORT} and (tcp[tcpflags] & tcp-syn != 0 or "
            "tcp[tcpflags] & tcp-push != 0)"])), stderr=subprocess.DEVNULL)))
    time.sleep(1.5)
    _generate(session, seconds, rate)
    time.sleep(0.5)
    for _, dump in dumps:
        dump.terminate()
        dump.wait(10)
    inside, outside = (_packets(path) for path, _ in dumps)
    syn, hello = [], []
    for key, at in inside.items():
        if key in outside:
            (hello if key[2] != "0" else syn).append((outside[key] - at) * 1e6)
    return syn, hello


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--latency-rate", type=float, default=500.0, help="connections a second, phase 2")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root: it builds network namespaces", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp, Experiment(label="b") as session:
        folder = Path(tmp)
        profile = folder / "reader-bench.yaml"
        profile.write_text(PROFILE)
        session.apply(load_profile(profile))
        ns = session.state.censor.netns
        record = readers.owner_record(ns, "testbed")
        assert record is not None
        if (os.cpu_count() or 1) < 2:
            print("this machine has one CPU: the reader shares it with the load", file=sys.stderr)
        else:
            os.sched_setaffinity(record["pid"], {1})
        netns.run(session.state.node("caller").netns,
                  ["sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65535"])
        with netns.serving(session.state.node("callee").netns, _pinned(0, [sys.executable, "-c", SERVER])):
            before = _summary(ns)
            cpu = _cpu_seconds(record["pid"])
            made, failed, took = _generate(session, args.seconds, 0)
            cpu = _cpu_seconds(record["pid"]) - cpu
            after = _summary(ns)
            full, lost = _queue_drops(ns)
            decided = after.get("flows_decided", 0) - before.get("flows_decided", 0)
            print(f"throughput: {made:,} connections with a ClientHello in {took:.2f} s "
                  f"({made / took:,.0f}/s, {failed} failed); the reader decided {decided:,} flows "
                  f"({decided / took:,.0f}/s; target {TARGET_FLOWS_S:,}/s); the queue was full for {full:,} "
                  f"packets (passed unread: fail open) and the reader's socket lost {lost:,}")
            print(f"the reader used {cpu:.2f} s of CPU for them ({cpu / took:.0%} of its core): "
                  f"{decided / max(cpu, 1e-9):,.0f} flows per CPU second, its ceiling with a faster load")
            syn, hello = _latency(session, args.latency_rate, 3.0, folder)
        late = (_summary(ns) or {}).get("late_packets")
        if syn and len(hello) >= 100:
            base = statistics.median(syn)
            cuts = statistics.quantiles(hello, n=100)
            middle = statistics.median(hello)
            print(f"latency at {args.latency_rate:g} flows/s: SYN (not queued) median {base:.0f} us in the "
                  f"censor; ClientHello (queued) median {middle:.0f} us, p99 {cuts[98]:.0f} us: the reader "
                  f"adds {middle - base:.0f} us at the median, {cuts[98] - base:.0f} us at p99 (target "
                  f"{TARGET_P99_US}); {len(hello)} hellos timed")
        else:
            print(f"latency: too few packets timed ({len(syn)} SYNs, {len(hello)} hellos)")
        print(f"late packets (of flows already decided, queued again): {late}")
        print(json.dumps({"connections_s": made / took, "decided_s": decided / took,
                          "flows_per_cpu_s": decided / max(cpu, 1e-9), "late_packets": late}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
