"""Small real-socket programs run inside topology nodes (no mocks: kernel sockets)."""

from __future__ import annotations

import json
import sys

from testbed.kernel import netns

UDP_SENDER = r"""
import socket, sys, time
host, port, count, stun = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(count):
    body = (b"\x00\x01\x00\x08\x21\x12\xa4\x42" if stun else b"\x00\x01\x00\x08\x00\x00\x00\x00") + bytes(12)
    s.sendto(body, (host, port))
    time.sleep(0.002)
"""

TCP_SERVER = r"""
import socket, sys
size = int(sys.argv[1])
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", int(sys.argv[2]))); srv.listen(1)
print("ready", flush=True)
conn, _ = srv.accept()
try:
    conn.sendall(bytes(size))
except OSError:
    pass
conn.close()
"""

TCP_CLIENT = r"""
import json, socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.settimeout(float(sys.argv[3]))
got = 0
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += len(chunk)
except socket.timeout:
    pass
print(json.dumps({"received": got}))
"""


UDP_ECHO = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(data, peer)
"""

UDP_ASKER = r"""
import json, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((sys.argv[1], int(sys.argv[2])))  # from a port the kernel picks, as apps do

def answers(wait):
    s.settimeout(wait)
    got = 0
    try:
        while True:
            s.recv(64)
            got += 1
    except OSError:
        return got

answered = 0
for i in range(int(sys.argv[3])):
    s.send(i.to_bytes(4, "big"))
    answered += answers(0.05)
answered += answers(1.0)  # the last answers, however late a busy machine makes them
print(json.dumps({"answered": answered}))
"""


def udp_round_trips(client_ns: str, server_ns: str, server_ip: str, port: int, count: int) -> int:
    """Of `count` datagrams a client sends from a kernel-picked port to an echo server on
    `port`, how many answers come back."""
    with netns.serving(server_ns, [sys.executable, "-c", UDP_ECHO, str(port)]):
        result = netns.run(client_ns, [sys.executable, "-c", UDP_ASKER, server_ip, str(port), str(count)],
                           timeout=60)
        return json.loads(result.stdout)["answered"]


def send_udp(ns: str, host: str, port: int, count: int, stun: bool) -> None:
    netns.run(ns, [sys.executable, "-c", UDP_SENDER, host, str(port), str(count), "1" if stun else "0"])


def tcp_download(server_ns: str, client_ns: str, server_ip: str, size: int, port: int = 8000,
                 idle_timeout_s: float = 2.0) -> int:
    """Bytes the client received before the transfer ended or stalled for `idle_timeout_s`."""
    with netns.serving(server_ns, [sys.executable, "-c", TCP_SERVER, str(size), str(port)]):
        result = netns.run(client_ns, [sys.executable, "-c", TCP_CLIENT, server_ip, str(port), str(idle_timeout_s)],
                           timeout=60)
        return json.loads(result.stdout)["received"]


def class_packets(ns: str, device: str) -> dict[str, int]:
    """Packets sent per htb class on `device`, from the kernel's class statistics."""
    counts = {}
    with netns.route(ns) as ipr:
        index = ipr.link_lookup(ifname=device)[0]
        for msg in ipr.get_classes(index=index):
            handle = msg["handle"]
            basic = msg.get_attr("TCA_STATS2").get_attr("TCA_STATS_BASIC")
            counts[f"{handle >> 16:x}:{handle & 0xFFFF:x}"] = basic["packets"]
    return counts
