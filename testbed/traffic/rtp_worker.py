"""One side of N calls, run inside a topology node:

    python3 -m testbed.traffic.rtp_worker CONFIG.json OUT.npz

It prints "ready" once its socket is bound, then reads the common start time (ns, on the
realtime clock) from standard input.

Sends this side's direction of every call, paced to absolute deadlines on the shared
realtime clock (calls staggered across the frame interval): each call's encoded speech
frame by frame (its media file, testbed/speech/media.py; a frame DTX leaves empty is not
sent), or zeros of the codec's size where a call has no media. It receives the other
direction with kernel receive timestamps (SO_TIMESTAMPNS) in a forked process of its own
(so the two never wait for one interpreter lock). Writes what it sent and what it
received, per packet, to OUT.npz.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import random
import socket
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from testbed.speech import media
from testbed.traffic import rtp

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Python 3.11 lacks the name
TIMESPEC = struct.Struct("qq")
TALK_MEAN_S, PAUSE_MEAN_S = 1.004, 1.587  # ITU-T P.59 conversational speech model
SLEEP_THRESHOLD_NS, SLEEP_MARGIN_NS = 200_000, 150_000


def _talk_pattern(frames: int, frame_ms: float, rng: random.Random) -> list[bool]:
    """Which frames are speech under DTX: exponential talkspurts and pauses."""
    out: list[bool] = []
    talking = True
    while len(out) < frames:
        mean = TALK_MEAN_S if talking else PAUSE_MEAN_S
        length = max(1, round(rng.expovariate(1 / mean) * 1000 / frame_ms))
        out.extend([talking] * length)
        talking = not talking
    return out[:frames]


def receive(sock: socket.socket, until_ns: int, raw: list[tuple[bytes, list]]) -> None:
    """Only collect while packets flow (parsing waits until the end: less time holding
    the interpreter lock, which the paced sender needs)."""
    sock.settimeout(0.2)
    while time.time_ns() < until_ns:
        try:
            data, ancillary, _, _ = sock.recvmsg(2048, 64)
        except TimeoutError:
            continue
        raw.append((data, ancillary))


def parse_received(raw: list[tuple[bytes, list]]) -> list[tuple[int, int, int, int, int]]:
    out = []
    for data, ancillary in raw:
        parsed = rtp.parse(data)
        if parsed is None:
            continue
        recv_ns = -1
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = TIMESPEC.unpack(value[: TIMESPEC.size])
                recv_ns = sec * 1_000_000_000 + nsec
        out.append((parsed.ssrc, parsed.seq, parsed.send_ns, recv_ns, parsed.size))
    return out


def _payloads(config: dict) -> list[Callable[[int], bytes]]:
    """Per call: frame number -> payload (b"" for a frame not sent)."""
    loaded: dict[str, Callable[[int], bytes]] = {}
    out = []
    zeros = rtp.zeros(config["payload_bytes"])
    for path in config.get("media") or [None] * config["calls"]:
        if path is None:
            out.append(lambda frame: zeros)
        else:
            if path not in loaded:
                loaded[path] = media.load(Path(path)).payload
            out.append(loaded[path])
    return out


def send(sock: socket.socket, config: dict, payloads: list[Callable[[int], bytes]],
         sent: list[tuple[int, int, int, int, int]], lateness: list[int]) -> None:
    frame_ns = int(config["frame_ms"] * 1e6)
    calls, frames = config["calls"], config["frames"]
    downlink = config["role"] == "callee"
    peer = (config["peer"], config["port"])
    rng = random.Random(config.get("seed", 1) * 2 + int(downlink))
    speaks = [path is not None for path in config.get("media") or [None] * calls]
    # the P.59 talkspurt model stands in for speech where a call sends no real speech
    talk = [_talk_pattern(frames, config["frame_ms"], rng) if config["dtx"] and not speaks[call] else None
            for call in range(calls)]
    seqs = [0] * calls
    last_sent = [-2] * calls  # the frame each call sent last: a gap before this one starts a talkspurt
    ssrcs = [rtp.ssrc_for(call, downlink) for call in range(calls)]
    offsets = [call * frame_ns // calls for call in range(calls)]
    start = config["start_ns"]
    for frame in range(frames):
        base = start + frame * frame_ns
        for call in range(calls):
            if talk[call] is not None and not talk[call][frame]:
                continue
            payload = payloads[call](frame)
            if not payload:  # DTX: nothing to send in this frame
                continue
            deadline = base + offsets[call]
            now = time.time_ns()
            # sleep through gaps worth a syscall, spin through the last few microseconds
            if deadline - now > SLEEP_THRESHOLD_NS:
                time.sleep((deadline - now - SLEEP_MARGIN_NS) / 1e9)
            while (now := time.time_ns()) < deadline:
                pass
            packet = rtp.build(config["codec"], payload, config["frame_ms"], ssrcs[call], seqs[call], now,
                               config["framing"], frame, marker=last_sent[call] != frame - 1)
            last_sent[call] = frame
            sock.sendto(packet, peer)
            sent.append((ssrcs[call], seqs[call], now, len(packet), frame))
            lateness.append(now - deadline)
            seqs[call] += 1


def precise_sleeps() -> None:
    """Timer slack 1 us (default 50 us): sleeps end when asked (prctl PR_SET_TIMERSLACK)."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(29, 1000, 0, 0, 0)


def main(argv: list[str]) -> int:
    with open(argv[0]) as f:
        config = json.load(f)
    precise_sleeps()
    gc.disable()  # short-lived, no cycles: collections over the growing packet lists made
    # sending late by tens of milliseconds
    sock = socket.socket(socket.AF_INET6 if ":" in config["peer"] else socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.bind(("", config["port"]))
    payloads = _payloads(config)  # media read before "ready": not out of the start margin
    print("ready", flush=True)  # bound: packets from now on are received
    config["start_ns"] = int(sys.stdin.readline())  # the controller starts both sides together
    sent: list[tuple[int, int, int, int, int]] = []
    lateness: list[int] = []
    duration_ns = int(config["frames"] * config["frame_ms"] * 1e6)
    end_ns = config["start_ns"] + duration_ns + int(config["drain_s"] * 1e9)
    received_path = argv[1] + ".received.npy"
    child = os.fork()
    if child == 0:  # the receiver: its own process, so it never holds up the paced sender
        raw: list[tuple[bytes, list]] = []
        receive(sock, end_ns, raw)
        np.save(received_path, np.array(parse_received(raw), dtype=np.int64).reshape(-1, 5))
        os._exit(0)
    send(sock, config, payloads, sent, lateness)
    _, status = os.waitpid(child, 0)
    if status != 0:
        print("the receiving process failed", file=sys.stderr)
        return 1
    received = np.load(received_path)
    os.unlink(received_path)
    np.savez(argv[1],
             sent=np.array(sent, dtype=np.int64).reshape(-1, 5),
             received=received,
             lateness=np.array(lateness, dtype=np.int64))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
