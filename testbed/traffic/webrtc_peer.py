"""One side of N WebRTC calls (aiortc), run inside a topology node:

    python3 -m testbed.traffic.webrtc_peer CONFIG.json OUT.json

It connects to the signalling server, prints "ready", then reads the common start time (ns,
on the realtime clock) from standard input. The caller offers every call, the callee answers;
ICE gathers from the node's one IPv4 address and the configured STUN or TURN server. Each
side sends its audio (a looped int16 recording at the codec's rate, or a tone) for the
phase's seconds, samples getStats once a second, and notes every state change; the callee
records what it plays, each frame at its RTP time (a lost frame is silence, as aiortc plays
it: it has no concealment). A call whose media is not up by the connect deadline is dialled
again, as apps do, up to `redials` times while a whole attempt still fits in the phase (each
attempt is numbered: an answer to an abandoned one is ignored). Writes per call what it saw
to OUT.json.

aiortc facts this relies on (1.16, pinned): no "connected" ICE state (ICE is up when
iceConnectionState is "completed"), no ICE restart, and the nominated pair only in aioice's
internals; an ICE check gives up after 63.5 s, so the call keeps its own connect deadline.
"""

from __future__ import annotations

import asyncio
import fractions
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

FRAME_S = 0.02
CLOCK = {"pcmu": 8000, "opus": 48000}  # RTP clock rates (RFC 3551, RFC 7587)
MIME = {"pcmu": "audio/PCMU", "opus": "audio/opus"}
STATS_EVERY_S = 1.0
SIGNALLING_DEADLINE_S = 15.0  # the signalling server and this peer start at the same time


def _monotonic_ms(since_ns: int) -> float:
    return round((time.time_ns() - since_ns) / 1e6, 1)


def _audio_track(samples: np.ndarray | None, rate: int):
    from aiortc import MediaStreamTrack
    from av import AudioFrame

    class Speech(MediaStreamTrack):
        """The recording looped (or a 440 Hz tone), 20 ms frames paced on the wall clock."""

        kind = "audio"

        def __init__(self) -> None:
            super().__init__()
            self.size = int(rate * FRAME_S)
            self.pcm = samples if samples is not None else (
                8000 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)).astype(np.int16)
            self.index = 0
            self.started: float | None = None

        async def recv(self):
            if self.started is None:
                self.started = time.monotonic()
            else:
                await asyncio.sleep(max(0.0, self.started + self.index * FRAME_S - time.monotonic()))
            at = (self.index * self.size) % len(self.pcm)
            chunk = np.resize(np.roll(self.pcm, -at)[: self.size], self.size)
            frame = AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate, frame.pts = rate, self.index * self.size
            frame.time_base = fractions.Fraction(1, rate)
            self.index += 1
            return frame

    return Speech()


class Recorder:
    """What the callee plays, each frame at its RTP time from the first packet received (aiortc
    counts from there): gaps stay silent, and `played` flags each 20 ms frame that was played."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.rate: int | None = None
        self.samples: np.ndarray | None = None
        self.played = np.zeros(round(seconds / FRAME_S), bool)
        self.frames = 0
        self.first_at: float | None = None  # monotonic time of the first frame

    def finish(self, end: float) -> None:
        """Keep what was recorded while the call was up (`end`: when it was hung up, monotonic).
        A silent tail shorter than a stall is the hang-up's packets in flight, not damage: cut."""
        from testbed.measure.webrtc import STALL_S

        if self.samples is None or self.first_at is None:
            return
        frames = min(self.played.size, max(0, int((end - self.first_at) / FRAME_S)))
        last = int(np.flatnonzero(self.played[:frames])[-1]) if self.played[:frames].any() else -1
        if (frames - 1 - last) * FRAME_S < STALL_S:
            frames = last + 1
        self.played = self.played[:frames]
        self.samples = self.samples[: frames * int(self.rate * FRAME_S)]

    def add(self, frame) -> None:
        pcm = frame.to_ndarray()
        if pcm.ndim == 2 and frame.layout.name != "mono":
            pcm = pcm.reshape(-1, len(frame.layout.channels))[:, 0]  # packed stereo: the left channel
        pcm = pcm.reshape(-1).astype(np.int16)
        if self.samples is None:
            self.first_at = time.monotonic()
            self.rate = frame.sample_rate
            self.samples = np.zeros(int(self.seconds * self.rate), np.int16)
        start = int(frame.pts * frame.time_base * self.rate)
        end = min(start + pcm.size, self.samples.size)
        if 0 <= start < end:
            self.samples[start:end] = pcm[: end - start]
            size = int(self.rate * FRAME_S)
            self.played[start // size: -(-end // size)] = True
            self.frames += 1


class Call:
    def __init__(self, index: int, origin_ns: int) -> None:
        self.index = index
        self.origin_ns = origin_ns
        self.pc = None
        self.offered_ns: int | None = None
        self.setup_ms: float | None = None
        self.failed = False
        self.timeline: list[tuple[float, str, str]] = []
        self.stats: list[list[float]] = []
        self.recorder: Recorder | None = None
        self.selected: dict | None = None
        self.media_up = False  # DTLS done: the connection carries audio
        self.redials = 0

    def restart(self) -> None:
        """Forget the abandoned attempt (its timeline stays)."""
        self.pc, self.offered_ns, self.setup_ms, self.selected = None, None, None, None
        self.failed = False

    def note(self, kind: str, state: str) -> None:
        self.timeline.append((_monotonic_ms(self.origin_ns), kind, state))
        if kind == "ice" and state == "completed" and self.setup_ms is None and self.offered_ns is not None:
            self.setup_ms = round((time.time_ns() - self.offered_ns) / 1e6, 1)
            self.selected = self.pair()  # read now: closing the connection forgets it
        if kind == "ice" and state == "failed":
            self.failed = True
        if kind == "connection" and state == "connected":
            self.media_up = True

    def pair(self) -> dict | None:
        """The nominated candidate pair (aioice internals, guarded: None when not found)."""
        try:
            transport = self.pc.getTransceivers()[0].sender.transport.transport
            nominated = transport._connection._nominated.get(1)
        except (AttributeError, IndexError, TypeError):
            return None
        if nominated is None:
            return None
        local, remote = nominated.local_candidate, nominated.remote_candidate
        return {"local": local.type, "remote": remote.type, "transport": local.transport,
                "local_address": f"{local.host}:{local.port}",
                "remote_address": f"{remote.host}:{remote.port}"}

    def report(self) -> dict:
        return {"call": self.index, "connected": self.setup_ms is not None and not self.failed,
                "setup_ms": self.setup_ms, "timeline": self.timeline, "pair": self.selected,
                "stats": self.stats, "redials": self.redials,
                "frames_played": self.recorder.frames if self.recorder else None}


async def _sample_stats(call: Call, clock: int) -> None:
    from aiortc.mediastreams import MediaStreamError

    try:
        report = await call.pc.getStats()
    except (MediaStreamError, AttributeError, KeyError):  # closing under our feet
        return
    def first(kind: str):
        return next((s for s in report.values() if s.type == kind), None)

    inbound, remote, transport = first("inbound-rtp"), first("remote-inbound-rtp"), first("transport")
    rtt = getattr(remote, "roundTripTime", None)
    call.stats.append([
        _monotonic_ms(call.origin_ns),
        None if rtt is None else round(rtt * 1000, 2),
        None if inbound is None else round(inbound.jitter / clock * 1000, 2),  # RTP units -> ms
        None if inbound is None else inbound.packetsLost,
        None if inbound is None else inbound.packetsReceived,
        getattr(transport, "bytesReceived", None),
        getattr(transport, "bytesSent", None),
    ])


class Peer:
    def __init__(self, config: dict) -> None:
        self.config = config
        self.role = config["role"]
        self.codec = config["codec"]
        self.clock = CLOCK[self.codec]
        self.origin_ns = time.time_ns()
        self.calls = [Call(k, self.origin_ns) for k in range(config["calls"])]
        audio = config.get("audio")
        self.samples = [np.load(path) if path else None for path in (audio or [None] * config["calls"])]
        self.writer: asyncio.StreamWriter | None = None

    def _new_connection(self, call: Call):
        from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCRtpSender
        from aiortc.rtcconfiguration import RTCIceTransportPolicy

        servers = [RTCIceServer(s["urls"], s.get("username"), s.get("credential"))
                   for s in self.config["ice_servers"]]
        relay_only = self.config["policy"] == "relay"
        policy = RTCIceTransportPolicy.RELAY if relay_only else RTCIceTransportPolicy.ALL
        pc = RTCPeerConnection(RTCConfiguration(iceServers=servers, iceTransportPolicy=policy))

        def note(kind: str, state: str) -> None:
            if call.pc is pc:  # an abandoned attempt's connection says no more
                call.note(kind, state)

        pc.on("iceconnectionstatechange", lambda: note("ice", pc.iceConnectionState))
        pc.on("connectionstatechange", lambda: note("connection", pc.connectionState))
        pc.on("icegatheringstatechange", lambda: note("gathering", pc.iceGatheringState))
        # the track carries audio at the codec's RTP clock (the workload's recordings are made at it)
        track = _audio_track(self.samples[call.index], self.clock)
        transceiver = pc.addTransceiver(track, direction="sendrecv")
        transceiver.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("audio").codecs
                                         if c.mimeType == MIME[self.codec]])
        if self.role == "callee":
            call.recorder = Recorder(self.config["seconds"])
            pc.on("track", lambda track: asyncio.ensure_future(self._record(track, call.recorder)))
        call.pc = pc
        return pc

    @staticmethod
    async def _record(track, recorder: Recorder) -> None:
        from aiortc.mediastreams import MediaStreamError

        while True:
            try:
                recorder.add(await track.recv())
            except MediaStreamError:
                return

    def _send(self, message: dict) -> None:
        assert self.writer is not None
        self.writer.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")

    async def _offer(self, call: Call) -> None:
        pc = self._new_connection(call)
        call.offered_ns = time.time_ns()
        call.note("offer", "created")
        await pc.setLocalDescription(await pc.createOffer())  # gathers every candidate (no trickle)
        self._send({"call": call.index, "attempt": call.redials, "offer": pc.localDescription.sdp})

    @staticmethod
    async def _abandon(call: Call, attempt: int) -> None:
        """Close the call's connection and start attempt number `attempt` from scratch."""
        old = call.pc
        call.restart()
        call.redials = attempt
        call.note("redial", str(attempt))
        if old is not None:
            await old.close()

    async def _redial(self, call: Call) -> None:
        await self._abandon(call, call.redials + 1)
        await self._offer(call)

    async def _answer(self, call: Call, sdp: str, attempt: int) -> None:
        from aiortc import RTCSessionDescription

        if call.pc is not None:  # the caller dialled again: the last attempt is abandoned
            await self._abandon(call, attempt)
        pc = self._new_connection(call)
        call.offered_ns = time.time_ns()
        call.note("offer", "received")
        await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        self._send({"call": call.index, "attempt": attempt, "answer": pc.localDescription.sdp})

    async def _listen(self, reader: asyncio.StreamReader) -> None:
        from aiortc import RTCSessionDescription

        while line := await reader.readline():
            message = json.loads(line)
            call = self.calls[message["call"]]
            attempt = message.get("attempt", 0)
            if "offer" in message and self.role == "callee":
                await self._answer(call, message["offer"], attempt)
            elif ("answer" in message and self.role == "caller" and call.pc is not None
                  and attempt == call.redials):
                call.note("answer", "received")
                await call.pc.setRemoteDescription(RTCSessionDescription(message["answer"], "answer"))

    async def _check_deadline(self, call: Call, end: float) -> None:
        """A caller whose call's media is not up by the deadline (or whose ICE failed) dials
        again while redials are left and a whole attempt fits before `end`; otherwise the call
        has failed."""
        timeout = self.config["connect_timeout"]
        if call.offered_ns is None or call.media_up:
            return
        late = (time.time_ns() - call.offered_ns) / 1e9 > timeout
        if (self.role == "caller" and (late or call.failed) and call.redials < self.config.get("redials", 0)
                and end - time.monotonic() > timeout):
            await self._redial(call)
        elif late and call.setup_ms is None and not call.failed:
            call.note("deadline", "not connected")
            call.failed = True

    async def _connect_signalling(self) -> asyncio.StreamReader:
        host, port = self.config["signalling"]
        deadline = time.monotonic() + SIGNALLING_DEADLINE_S
        while True:
            try:
                reader, self.writer = await asyncio.open_connection(host, port, limit=1 << 20)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        self._send({"hello": self.role})
        return reader

    async def run(self) -> list[dict]:
        reader = await self._connect_signalling()
        print("ready", flush=True)
        loop = asyncio.get_running_loop()
        start_ns = int(await loop.run_in_executor(None, sys.stdin.readline))
        await asyncio.sleep(max(0.0, (start_ns - time.time_ns()) / 1e9))
        listener = asyncio.ensure_future(self._listen(reader))
        end = time.monotonic() + self.config["seconds"]
        if self.role == "caller":
            for call in self.calls:
                await self._offer(call)
        while time.monotonic() < end:
            await asyncio.sleep(min(STATS_EVERY_S, max(0.0, end - time.monotonic())))
            for call in self.calls:
                if call.pc is not None and call.setup_ms is not None and not call.failed:
                    await _sample_stats(call, self.clock)
            for call in self.calls:  # the workload's connect deadline: aioice would wait 63.5 s
                await self._check_deadline(call, end)
        listener.cancel()
        for call in self.calls:
            if call.recorder is not None:
                call.recorder.finish(end)
            if call.pc is not None:
                await call.pc.close()
        return [call.report() for call in self.calls]


def _bind_to(address: str) -> None:
    """Gather candidates from the node's one IPv4 address only: aioice would add every
    address of every interface (the node's IPv6 too, which an IPv4 profile would miss)."""
    import aioice.ice

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [address]


def _preload() -> None:
    """Import the WebRTC stack before saying "ready": done at the first offer, the import took
    the call's own time (about 4 s of a 6 s phase in the TCG VM) and the callee's import counted
    in the setup time."""
    import aioice.ice  # noqa: F401
    import aiortc  # noqa: F401
    import aiortc.mediastreams  # noqa: F401
    import aiortc.rtcconfiguration  # noqa: F401


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[0]).read_text())
    _preload()
    if config.get("cafile"):
        os.environ["SSL_CERT_FILE"] = config["cafile"]  # TURN over TLS: the run's own certificate
    _bind_to(config["address"])
    peer = Peer(config)
    calls = asyncio.run(peer.run())
    recordings = []
    for call in peer.calls:
        recorder = call.recorder
        if recorder is not None and recorder.samples is not None and config.get("record"):
            path = Path(config["record"]) / f"call{call.index}.npz"
            np.savez(path, samples=recorder.samples, played=recorder.played)
            recordings.append({"call": call.index, "path": str(path), "rate": recorder.rate})
    Path(argv[1]).write_text(json.dumps({"role": config["role"], "calls": calls, "recordings": recordings}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
