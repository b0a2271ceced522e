"""Playout replayed from a call direction's trace: what the receiver did with each frame.

The jitter buffer (testbed/measure/timing.py) sets when each frame is due; from that and
which packets arrived when, every frame of the call gets a fate:

    played      its packet was in the buffer in time, and is decoded
    fec         lost or late, but the next packet (in the buffer by then) carries it in
                Opus' in-band FEC, and it is decoded from there
    lost        never arrived: concealed
    late        arrived after it was due: discarded and concealed
    dtx         not sent (silence suppression): comfort noise, or silence

Pure and deterministic: the same trace gives the same fates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from testbed.measure.timing import JitterBuffer, adaptive_buffer
from testbed.measure.trace import StreamTrace

PLAYED, FEC, LOST, LATE, DTX = range(5)
FATE_NAMES = ("played", "fec", "lost", "late", "dtx")


@dataclass(frozen=True)
class Playout:
    fates: np.ndarray  # uint8 per frame of the call
    sent_index: np.ndarray  # per frame: its row in trace.sent, -1 where it was not sent

    def count(self, fate: int) -> int:
        return int(np.count_nonzero(self.fates == fate))

    def counts(self) -> dict[str, int]:
        return {name: self.count(code) for code, name in enumerate(FATE_NAMES)}


def replay(trace: StreamTrace, frames: int, fec: bool, buffer: JitterBuffer | None = None) -> Playout:
    """The fate of each of the call's `frames` frames; `fec`: the codec carries in-band FEC."""
    sent, rx = trace.sent, trace.received
    if buffer is None:
        buffer = adaptive_buffer(sent["send_ns"], rx["seq"], rx["recv_ns"], trace.frame_ms)
    has_frames = "frame" in (sent.dtype.names or ())  # traces from before DTX skipped frames lack it
    frame_of = (sent["frame"] if has_frames else sent["seq"]).astype(np.int64)
    sent_index = np.full(frames, -1, np.int64)
    inside = frame_of < frames
    sent_index[frame_of[inside]] = np.flatnonzero(inside)
    arrival = np.full(sent.size, -1, np.int64)  # first copy of each packet
    valid = rx["seq"] < sent.size
    seqs, times = rx["seq"][valid].astype(np.int64), rx["recv_ns"][valid].astype(np.int64)
    order = np.lexsort((times, seqs))
    first = np.unique(seqs[order], return_index=True)[1]
    arrival[seqs[order][first]] = times[order][first]
    fates = np.full(frames, DTX, np.uint8)
    was_sent = sent_index >= 0
    i = sent_index[was_sent]
    fates[was_sent] = np.where(arrival[i] < 0, LOST, np.where(buffer.discarded[i], LATE, PLAYED))
    if fec:
        missing = np.flatnonzero((fates == LOST) | (fates == LATE))
        following = missing + 1
        ok = following < frames
        missing, following = missing[ok], following[ok]
        j = sent_index[following]
        carrier = (j >= 0) & (np.where(j >= 0, arrival[np.maximum(j, 0)], -1) >= 0)
        in_time = carrier & (arrival[np.maximum(j, 0)] <= buffer.playout_ns[sent_index[missing]])
        fates[missing[in_time]] = FEC
    return Playout(fates, sent_index)
