"""WebRTC calls' figures from what the two peers saw (testbed/traffic/webrtc_peer.py): pure.

A call connected when ICE completed on both sides before the connect deadline. Its figures
come from aiortc's getStats, sampled once a second on each side: round-trip time from the
RTCP receiver reports, RFC 3550 jitter of the received stream, packets lost and received,
and the transport's bytes. A call that never connected counts in `connected` only.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

NAN = math.nan
RELAY_TRANSPORT = {"turn-udp": "udp", "turn-tcp": "tcp", "turn-tls": "tls"}  # ICE mode -> the leg to TURN
STALL_S = 3.0  # a connected call whose received packet count stays flat this long has stalled
# the columns of a stats sample (webrtc_peer._sample_stats)
T_MS, RTT_MS, JITTER_MS, LOST, RECEIVED, BYTES_IN, BYTES_OUT = range(7)


def _mean(values: Sequence[float | None]) -> float:
    kept = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.fmean(kept) if kept else NAN


def _pair_kind(pair: dict | None) -> str:
    """host, srflx or relay: the farthest-from-direct candidate of the nominated pair."""
    if pair is None:
        return "unknown"
    kinds = {pair["local"], pair["remote"]}
    return "relay" if "relay" in kinds else "srflx" if kinds & {"srflx", "prflx"} else "host"


def _stalled(samples: list[list]) -> bool:
    counted = [(s[T_MS] / 1000, s[RECEIVED]) for s in samples if s[RECEIVED] is not None]
    flat_since = None
    for (before_t, before), (t, received) in zip(counted, counted[1:], strict=False):
        flat_since = (before_t if flat_since is None else flat_since) if received == before else None
        if flat_since is not None and t - flat_since >= STALL_S:
            return True
    return False


def _kbit(samples: list[list]) -> float:
    """Received bit rate between the first and the last sample."""
    counted = [(s[T_MS], s[BYTES_IN]) for s in samples if s[BYTES_IN] is not None]
    if len(counted) < 2 or counted[-1][0] <= counted[0][0]:
        return NAN
    return 8 * (counted[-1][1] - counted[0][1]) / (counted[-1][0] - counted[0][0])  # bytes/ms -> kbit/s


def _loss(samples: list[list]) -> float:
    last = next((s for s in reversed(samples) if s[RECEIVED] is not None), None)
    if last is None or last[LOST] + last[RECEIVED] <= 0:
        return NAN
    return 100.0 * max(0, last[LOST]) / (last[LOST] + last[RECEIVED])


def summarise(caller: list[dict], callee: list[dict], relay_transport: str | None = None) -> dict[str, float]:
    """The workload's figures over its calls. `relay_transport`: udp, tcp or tls, the leg to
    the TURN server when the calls used one (aiortc reports every relay candidate as udp)."""
    calls = list(zip(caller, callee, strict=True))
    up = [(a, b) for a, b in calls if a["connected"] and b["connected"]]
    sides = [side for pair in up for side in pair]
    kinds = [_pair_kind(a["pair"]) for a, _ in up]
    relayed = [k == "relay" for k in kinds]

    def share(flags: list[bool]) -> float:
        return sum(flags) / len(flags) if flags else NAN

    return {
        "connected": share([a["connected"] and b["connected"] for a, b in calls]),
        "setup_time": _mean([a["setup_ms"] for a, _ in up]),
        "pair_host": share([k == "host" for k in kinds]),
        "pair_srflx": share([k == "srflx" for k in kinds]),
        "pair_relay": share(relayed),
        "relay_tcp": share([relay_transport in ("tcp", "tls") for r in relayed if r]),
        "redials": float(sum(a["redials"] for a, _ in calls)),  # the caller dials; the callee answers each
        "rtt": _mean([s[RTT_MS] for side in sides for s in side["stats"]]),
        "jitter": _mean([s[JITTER_MS] for side in sides for s in side["stats"]]),
        "loss": _mean([_loss(side["stats"]) for side in sides]),
        "kbit": _mean([_kbit(side["stats"]) for side in sides]),
        "stalled": share([_stalled(side["stats"]) for side in sides]),
    }
