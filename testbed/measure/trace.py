"""Per-packet traces: what was sent and what arrived, per call and direction.

Saved as one compressed .npz per run, so any metric can be recomputed later (and speech
rebuilt from which frames arrived when).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from testbed.measure.arrays import load_npz

# frame: which frame of the call the packet carries (sequence numbers skip none, frames skip
# those DTX left unsent)
SENT_DTYPE = np.dtype([("seq", "<u4"), ("send_ns", "<i8"), ("size", "<u2"), ("frame", "<u4")])
RECV_DTYPE = np.dtype([("seq", "<u4"), ("send_ns", "<i8"), ("recv_ns", "<i8"), ("size", "<u2")])


@dataclass
class StreamTrace:
    """One direction of one call. `received` is in arrival order and may hold duplicates."""

    call: int
    direction: str  # "uplink" (caller -> callee) or "downlink"
    frame_ms: float
    sent: np.ndarray  # SENT_DTYPE, in sending order
    received: np.ndarray  # RECV_DTYPE, in arrival order

    @property
    def key(self) -> str:
        return f"call{self.call}-{self.direction}"


def save_traces(path: Path, traces: list[StreamTrace]) -> None:
    arrays: dict[str, np.ndarray] = {}
    for t in traces:
        arrays[f"{t.key}.sent"] = t.sent
        arrays[f"{t.key}.received"] = t.received
        arrays[f"{t.key}.frame_ms"] = np.array([t.frame_ms])
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)


def load_traces(path: Path) -> list[StreamTrace]:
    data = load_npz(path)
    keys = sorted({name.rsplit(".", 1)[0] for name in data})
    out = []
    for key in keys:
        call, direction = key.removeprefix("call").split("-", 1)
        out.append(StreamTrace(int(call), direction, float(data[f"{key}.frame_ms"][0]),
                               data[f"{key}.sent"], data[f"{key}.received"]))
    return out
