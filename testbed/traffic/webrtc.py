"""WebRTC calls between two topology nodes: aiortc peers (webrtc_peer.py) that meet through a
signalling server on a third node and gather candidates from a STUN/TURN server (turn.py)."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from testbed.errors import WorkloadFailed
from testbed.kernel import netns
from testbed.kernel.forkserver import Forked
from testbed.kernel.netns import Endpoint
from testbed.traffic.webrtc_peer import CLOCK

ICE_MODES = ("none", "stun", "turn-udp", "turn-tcp", "turn-tls")
POLICIES = ("all", "relay")
CODECS = tuple(CLOCK)
SIGNALLING_PORT = 8443
START_DELAY_S = 0.3  # after both peers are ready: time for the start message to arrive
STOP_GRACE_S = 30.0  # beyond the call: closing, writing recordings (a TCG VM is slow)
TRANSCRIPT = "signalling.log"


class WebrtcError(WorkloadFailed):
    pass


@dataclass(frozen=True)
class IceServer:
    """One STUN or TURN server as RTCIceServer takes it (aiortc uses one of each kind)."""

    urls: str
    username: str | None = None
    credential: str | None = None


@dataclass
class WebrtcRun:
    caller: list[dict]  # per call, what the caller saw (webrtc_peer.Call.report)
    callee: list[dict]
    recordings: list[dict] = field(default_factory=list)  # the callee's, per call: path and rate


def _spawn(node: Endpoint, config: dict, directory: Path, role: str) -> tuple[Forked, Path]:
    path, out = directory / f"{role}.json", directory / f"{role}-out.json"
    path.write_text(json.dumps(config))
    proc = netns.popen(node.netns, [sys.executable, "-m", "testbed.traffic.webrtc_peer", str(path), str(out)])
    assert isinstance(proc, Forked)
    return proc, out


def run_webrtc(caller: Endpoint, callee: Endpoint, signalling: Endpoint, ice_servers: list[IceServer],
               workdir: Path, policy: str = "all", calls: int = 1, seconds: float = 10, codec: str = "pcmu",
               connect_timeout: float = 10, cafile: Path | None = None,
               audio: list[Path | None] | None = None, port: int = SIGNALLING_PORT,
               redials: int = 0) -> WebrtcRun:
    """N calls from `caller` to `callee` for `seconds`; `audio`: per call an int16 .npy at the
    codec's rate (None: a tone); `redials`: times a call not up by `connect_timeout` is dialled
    again. The peers' configs, the signalling transcript and the callee's recordings go in
    `workdir` (every program's command line names it: a run's programs can be told by it)."""
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; known: {', '.join(POLICIES)}")
    if codec not in CODECS:
        raise ValueError(f"unknown codec {codec!r}; known: {', '.join(CODECS)}")
    common = {"calls": calls, "seconds": seconds, "codec": codec, "policy": policy,
              "connect_timeout": connect_timeout, "redials": redials,
              "cafile": str(cafile) if cafile else None,
              "ice_servers": [s.__dict__ for s in ice_servers], "signalling": [signalling.address(4), port],
              "audio": [str(a) if a else None for a in audio] if audio else None}
    server = [sys.executable, "-m", "testbed.traffic.signalling", signalling.address(4), str(port),
              str(workdir / TRANSCRIPT)]
    with netns.serving(signalling.netns, server, stdin=True) as relay:
        procs = {}
        for role, node in (("callee", callee), ("caller", caller)):
            extra = {"record": str(workdir)} if role == "callee" else {}
            procs[role] = _spawn(node, {**common, **extra, "role": role, "address": node.address(4)},
                                 workdir, role)
        try:
            for role, (proc, _) in procs.items():
                assert proc.stdout is not None
                if proc.stdout.readline().strip() != "ready":
                    proc.kill()
                    raise WebrtcError(f"the {role}'s WebRTC peer did not start: "
                                      f"{(proc.communicate()[1] or '').strip()[-800:]}")
            start = str(time.time_ns() + int(START_DELAY_S * 1e9)) + "\n"
            finished = {}
            for proc, _ in procs.values():
                assert proc.stdin is not None
                proc.stdin.write(start)
                proc.stdin.flush()
            for role, (proc, out) in procs.items():
                _, err = proc.communicate(timeout=seconds + START_DELAY_S + STOP_GRACE_S)
                if proc.returncode != 0 or not out.exists():
                    raise WebrtcError(f"the {role}'s WebRTC peer failed (exit {proc.returncode}): "
                                      f"{err.strip()[-800:]}")
                finished[role] = json.loads(out.read_text())
        finally:
            for proc, _ in procs.values():
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            relay.communicate(timeout=10)
    callee = finished["callee"]
    return WebrtcRun(finished["caller"]["calls"], callee["calls"], callee["recordings"])
