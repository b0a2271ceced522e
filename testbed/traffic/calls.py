"""Bidirectional VoIP-like calls between two topology nodes, traced per packet."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from testbed.errors import WorkloadFailed
from testbed.kernel import netns
from testbed.kernel.netns import Endpoint
from testbed.kernel.scratch import scratch
from testbed.measure.arrays import load_npz
from testbed.measure.emodel import CODECS
from testbed.measure.trace import RECV_DTYPE, SENT_DTYPE, StreamTrace
from testbed.traffic import rtp

START_DELAY_S = 0.3  # after both workers are bound: time for the start message to arrive
DRAIN_S = 2.0  # after the last packet, how long late packets are still awaited


@dataclass(frozen=True)
class CallRun:
    traces: list[StreamTrace]
    send_lateness_ns: dict[str, np.ndarray]  # per role
    frames: int  # frames per call direction (sent, or left unsent by DTX)


class CallError(WorkloadFailed):
    pass


def run_calls(caller: Endpoint, callee: Endpoint, codec: str = "g711", calls: int = 1, seconds: float = 10,
              port: int = 40000, framing: str = "rtp", dtx: bool = False, family: int = 4,
              seed: int = 1, media: list[tuple[Path | None, Path | None]] | None = None) -> CallRun:
    """N bidirectional calls from `caller` to `callee`. `framing`: rtp, stun or reflector
    (see rtp.py); `dtx`: silence suppression; `media`: per call, the (uplink, downlink)
    media files of its encoded speech (testbed/speech/media.py; None: zeros of the codec's
    size)."""
    if codec not in CODECS:
        raise ValueError(f"unknown codec {codec!r}; known: {', '.join(CODECS)}")
    if framing not in rtp.FRAMINGS:
        raise ValueError(f"unknown framing {framing!r}; known: {', '.join(rtp.FRAMINGS)}")
    spec = CODECS[codec]
    frames = int(seconds * 1000 / spec.frame_ms)
    common = {"codec": codec, "payload_bytes": spec.payload_bytes, "frame_ms": spec.frame_ms, "calls": calls,
              "frames": frames, "port": port, "framing": framing, "dtx": dtx, "drain_s": DRAIN_S,
              "seed": seed}
    nodes = {"caller": caller, "callee": callee}
    peers = {"caller": callee.address(family), "callee": caller.address(family)}
    with scratch("calls") as tmp:
        procs = {}
        for side, (role, node) in enumerate(nodes.items()):
            config = Path(tmp) / f"{role}.json"
            sends = [str(pair[side]) if pair[side] else None for pair in media] if media else None
            config.write_text(json.dumps({**common, "role": role, "peer": peers[role], "media": sends}))
            result = Path(tmp) / f"{role}.npz"
            argv = [sys.executable, "-m", "testbed.traffic.rtp_worker", str(config), str(result)]
            procs[role] = netns.popen(node.netns, argv)
        try:
            for role, proc in procs.items():  # both bound before anything is sent
                assert proc.stdout is not None
                if proc.stdout.readline().strip() != "ready":
                    detail = proc.communicate()[1].strip()[-500:]
                    netns.require(nodes[role].netns, f"the {role} side of the calls")
                    raise CallError(f"the {role} side ({nodes[role].name}) did not start: "
                                    f"{detail or 'it printed nothing'}")
            start_ns = time.time_ns() + int(START_DELAY_S * 1e9)
            for proc in procs.values():
                assert proc.stdin is not None
                proc.stdin.write(f"{start_ns}\n")
                proc.stdin.flush()
            for role, proc in procs.items():
                _, err = proc.communicate(timeout=seconds + START_DELAY_S + DRAIN_S + 60)
                if proc.returncode != 0:
                    netns.require(nodes[role].netns, f"the {role} side of the calls")
                    raise CallError(f"the {role} side ({nodes[role].name}) failed with exit "
                                    f"{proc.returncode}: {err.strip()[-500:] or 'it printed nothing'}")
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.kill()
        results = {role: load_npz(Path(tmp) / f"{role}.npz") for role in procs}
        return CallRun(_assemble(results, calls, spec.frame_ms),
                       {role: results[role]["lateness"] for role in results}, frames)


def _assemble(results: dict, calls: int, frame_ms: float) -> list[StreamTrace]:
    traces = []
    for call in range(calls):
        for direction, sender, receiver in (("uplink", "caller", "callee"), ("downlink", "callee", "caller")):
            ssrc = rtp.ssrc_for(call, direction == "downlink")
            sent_rows = results[sender]["sent"]
            sent_rows = sent_rows[sent_rows[:, 0] == ssrc]
            sent = np.zeros(len(sent_rows), SENT_DTYPE)
            sent["seq"], sent["send_ns"], sent["size"] = sent_rows[:, 1], sent_rows[:, 2], sent_rows[:, 3]
            sent["frame"] = sent_rows[:, 4]
            recv_rows = results[receiver]["received"]
            recv_rows = recv_rows[recv_rows[:, 0] == ssrc]
            received = np.zeros(len(recv_rows), RECV_DTYPE)
            received["seq"], received["send_ns"] = recv_rows[:, 1], recv_rows[:, 2]
            received["recv_ns"], received["size"] = recv_rows[:, 3], recv_rows[:, 4]
            traces.append(StreamTrace(call, direction, frame_ms, sent, received))
    return traces
