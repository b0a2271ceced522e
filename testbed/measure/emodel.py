"""ITU-T G.107 E-model: transmission rating R and estimated MOS.

R = Ro - Is - Id - Ie,eff + A, every term computed from the G.107 parameters (defaults
from its Table 3), so that the defaults give R = 93.2 and MOS 4.41.

MOS-LQ leaves delay out (T = Ta = Tr = 0: listening quality); MOS-CQ uses the measured
mouth-to-ear delay (conversational quality).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Codec:
    name: str
    frame_ms: float  # one packet carries one frame
    payload_bytes: int
    ie: float  # equipment impairment factor
    bpl: float  # packet-loss robustness factor
    algorithmic_delay_ms: float  # frame + look-ahead, part of mouth-to-ear delay
    source: str


# G.711 and G.729: G.113 Appendix I values as commonly cited (RESEARCH.md section 9). ITU
# gives none for Opus: its two presets take factors fitted to wideband PESQ of the real
# codec over 0-30 % random and bursty loss (scripts/calibrate_emodel.py; values, fit errors
# and the method's check against G.711's published factors in docs/speech-calibration.md).
CODECS: dict[str, Codec] = {
    "g711": Codec("g711", 20, 160, 0.0, 25.1, 20.0, "G.113 App. I: G.711 with PLC"),
    "g711-noplc": Codec("g711-noplc", 20, 160, 0.0, 4.3, 20.0, "G.113 App. I: G.711 without PLC"),
    "g729": Codec("g729", 20, 20, 11.0, 19.0, 25.0, "G.113 App. I: G.729A + VAD"),
    "opus-webrtc": Codec("opus-webrtc", 20, 80, 9.5, 24.5, 26.5,
                         "fitted to PESQ-WB: 32 kbit/s Opus with its PLC (docs/speech-calibration.md)"),
    "opus-telegram": Codec("opus-telegram", 60, 135, 18.4, 28.4, 66.5,
                           "fitted to PESQ-WB: 18 kbit/s Opus, 60 ms frames (docs/speech-calibration.md)"),
}


@dataclass(frozen=True)
class Parameters:
    """G.107 Table 3 defaults."""

    slr: float = 8.0
    rlr: float = 2.0
    stmr: float = 15.0
    lstr: float = 18.0
    ds: float = 3.0
    dr: float = 3.0
    telr: float = 65.0
    wepl: float = 110.0
    t: float = 0.0  # mean one-way delay of the echo path, ms
    tr: float = 0.0  # round-trip delay in a 4-wire loop, ms
    ta: float = 0.0  # absolute one-way delay, ms
    qdu: float = 1.0
    ie: float = 0.0
    bpl: float = 1.0
    ppl: float = 0.0  # packet-loss probability, percent
    burst_r: float = 1.0
    nc: float = -70.0
    nfor: float = -64.0
    ps: float = 35.0
    pr: float = 35.0
    a: float = 0.0


def _log10(x: float) -> float:
    return math.log10(x)


def _noise(p: Parameters) -> tuple[float, float]:
    olr = p.slr + p.rlr
    nos = p.ps - p.slr - p.ds - 100 + 0.004 * (p.ps - olr - p.ds - 14) ** 2
    pre = p.pr + 10 * _log10(1 + 10 ** ((10 - p.lstr) / 10))
    nor = p.rlr - 121 + pre + 0.008 * (pre - 35) ** 2
    nfo = p.nfor + p.rlr
    no = 10 * _log10(10 ** (p.nc / 10) + 10 ** (nos / 10) + 10 ** (nor / 10) + 10 ** (nfo / 10))
    return no, 15 - 1.5 * (p.slr + no)


def _is(p: Parameters, ro: float, no: float) -> float:
    olr = p.slr + p.rlr
    xolr = olr + 0.2 * (64 + no - p.rlr)
    iolr = 20 * ((1 + (xolr / 8) ** 8) ** (1 / 8) - xolr / 8)
    stmro = -10 * _log10(10 ** (-p.stmr / 10) + math.exp(-p.t / 4) * 10 ** (-p.telr / 10))
    ist = (12 * (1 + ((stmro - 13) / 6) ** 8) ** (1 / 8)
           - 28 * (1 + ((stmro + 1) / 19.4) ** 35) ** (1 / 35)
           - 13 * (1 + ((stmro - 3) / 33) ** 13) ** (1 / 13) + 29)
    q = 37 - 15 * _log10(p.qdu)
    g = 1.07 + 0.258 * q + 0.0602 * q**2
    y = (ro - 100) / 15 + 46 / 8.4 - g / 9
    z = 46 / 30 - g / 40
    iq = 15 * _log10(1 + 10**y + 10**z)
    return iolr + ist + iq


def delay_impairment(p: Parameters, ro: float, no: float) -> float:
    roe = -1.5 * (no - p.rlr)
    terv = p.telr - 40 * _log10((1 + p.t / 10) / (1 + p.t / 150)) + 6 * math.exp(-0.3 * p.t**2)
    re = 80 + 2.5 * (terv - 14)
    idte = ((roe - re) / 2 + math.sqrt((roe - re) ** 2 / 4 + 100) - 1) * (1 - math.exp(-p.t))
    rle = 10.5 * (p.wepl + 7) * (p.tr + 1) ** -0.25
    idle = (ro - rle) / 2 + math.sqrt((ro - rle) ** 2 / 4 + 169)
    idd = 0.0
    if p.ta > 100:
        x = math.log2(p.ta / 100)
        idd = 25 * ((1 + x**6) ** (1 / 6) - 3 * (1 + (x / 3) ** 6) ** (1 / 6) + 2)
    return idte + idle + idd


def effective_equipment_impairment(ie: float, bpl: float, ppl: float, burst_r: float) -> float:
    """Ie,eff = Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl), Ppl in percent."""
    return ie + (95 - ie) * ppl / (ppl / burst_r + bpl)


def rating(p: Parameters = Parameters()) -> float:
    no, ro = _noise(p)
    return ro - _is(p, ro, no) - delay_impairment(p, ro, no) \
        - effective_equipment_impairment(p.ie, p.bpl, p.ppl, p.burst_r) + p.a


def mos(r: float) -> float:
    """G.107 Annex B: R to estimated MOS (1 to 4.5)."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r)


@dataclass(frozen=True)
class CallQuality:
    r_lq: float
    mos_lq: float
    r_cq: float
    mos_cq: float
    ppl_percent: float
    burst_r: float
    mouth_to_ear_ms: float


def call_quality(codec: Codec, ppl_percent: float, burst_r: float, one_way_delay_ms: float,
                 jitter_buffer_ms: float = 0.0) -> CallQuality:
    """R and MOS for a call: loss (lost + discarded by the jitter buffer), its burstiness,
    and the network delay plus the jitter buffer and codec delays (for MOS-CQ only)."""
    base = replace(Parameters(), ie=codec.ie, bpl=codec.bpl, ppl=ppl_percent, burst_r=max(burst_r, 1.0))
    r_lq = rating(base)
    mouth_to_ear = one_way_delay_ms + jitter_buffer_ms + codec.algorithmic_delay_ms
    r_cq = rating(replace(base, t=mouth_to_ear, ta=mouth_to_ear, tr=2 * mouth_to_ear))
    return CallQuality(r_lq, mos(r_lq), r_cq, mos(r_cq), ppl_percent, burst_r, mouth_to_ear)
