"""Fit the E-model's Ie and Bpl for each codec preset from PESQ, and write docs/speech-calibration.md.

    .venv/bin/python scripts/calibrate_emodel.py [--out docs/speech-calibration.md]

Method. Every voice's clip is sent through a grid of Gilbert loss patterns (0-30 % loss,
mean bursts of 1, 2, 4 and 8 packets; testbed/speech/simulate.py), replayed through the
jitter buffer and the real decoder with its concealment, and scored by PESQ (narrowband
for G.711, wideband P.862.2 for Opus). Each PESQ MOS-LQO is turned into a transmission
rating R by inverting G.107 Annex B's MOS(R); the E-model without delay gives
R = 93.2 - Ie,eff with Ie,eff = Ie + (95 - Ie) Ppl / (Ppl / BurstR + Bpl), Ppl and BurstR
measured on each pattern as the harness measures them (testbed/measure/loss.py). Ie comes
from the loss-free condition (R = 93.2 - Ie there), so the E-model meets PESQ exactly where
calls spend most of their time; Bpl is then fitted by least squares over the lossy
conditions; the fit error is the RMS difference in R and in MOS over the whole grid. (Fitting
both freely let Ie absorb the loss curve's shape: Opus came out at Ie 27, a clean call at
MOS 3.4 against its PESQ of 4.2.) G.711, whose factors ITU-T G.113 publishes, is fitted
the same way, to show how far this method lands from the published values.

Reading PESQ-WB on the narrowband E-model's scale counts a wideband codec's better sound
for nothing: the fitted Ie of Opus is what its PESQ-WB says on the 1-4.5 scale, not a
G.107.1 wideband factor.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import brentq, least_squares

from testbed.measure.emodel import CODECS, effective_equipment_impairment, mos, rating
from testbed.measure.loss import loss_stats
from testbed.speech import assess
from testbed.speech.media import encode
from testbed.speech.presets import PRESETS
from testbed.speech.reference import DEFAULT_VOICES
from testbed.speech.simulate import gilbert_losses, trace

ROOT = Path(__file__).resolve().parents[1]
R_CLEAN = rating()  # 93.2: the E-model's rating with G.107's defaults and no impairment
LOSSES = (0, 2, 5, 10, 15, 20, 30)
BURSTS = (1, 2, 4, 8)
TABLE_PATTERNS = ((0, 1), (5, 1), (5, 4), (10, 1), (10, 4), (20, 1), (20, 4), (30, 8))
FITTED = ("g711", "g711-noplc", "opus-webrtc", "opus-telegram")


def r_of_mos(value: float) -> float:
    """G.107 Annex B inverted: the R whose MOS is `value` (MOS is monotonic in R on 0-100)."""
    value = min(max(value, 1.0 + 1e-9), mos(100) - 1e-9)
    return brentq(lambda r: mos(r) - value, 0.0, 100.0)


@dataclasses.dataclass
class Point:
    preset: str
    loss: float  # as asked
    burst: float
    ppl: float  # as realised, percent
    burst_r: float
    pesq: float
    visqol: float = math.nan


def measure(preset_name: str, loss: int, burst: int, with_visqol: bool) -> Point:
    """One condition: every voice, each with its own loss pattern, PESQ averaged."""
    preset = PRESETS[preset_name]
    pesqs, visqols, ppls, bursts = [], [], [], []
    for k, voice in enumerate(DEFAULT_VOICES):
        clip = encode(preset, voice)
        frames = clip.frames * 2  # two loops: 18-20 s of speech per voice
        lost = gilbert_losses(frames, loss / 100, burst, seed=1000 * loss + 10 * burst + k) if loss else None
        heard = assess.hear(trace(frames, preset.frame_ms, lost), clip, frames)
        which = ("pesq", "visqol") if with_visqol else ("pesq",)
        scores = assess.score(heard, clip, which).scores
        pesqs.append(scores["pesq"])
        visqols.append(scores["visqol"])
        stats = loss_stats(np.zeros(frames, bool) if lost is None else lost, preset.frame_ms)
        ppls.append(stats.loss_percent)
        bursts.append(max(stats.burst_r, 1.0))
    return Point(preset_name, loss, burst, statistics.fmean(ppls), statistics.fmean(bursts),
                 statistics.fmean(pesqs), statistics.fmean(visqols) if with_visqol else math.nan)


def model_r(ie: float, bpl: float, point: Point) -> float:
    return R_CLEAN - effective_equipment_impairment(ie, bpl, point.ppl, point.burst_r)


def fit(points: list[Point]) -> tuple[float, float, float, float]:
    """(Ie, Bpl, RMS error in R, RMS error in MOS)."""
    clean = next(p for p in points if p.loss == 0)
    ie = max(0.0, R_CLEAN - r_of_mos(clean.pesq))
    lossy = [p for p in points if p.loss]
    observed = np.array([r_of_mos(p.pesq) for p in lossy])

    def residuals(x: np.ndarray) -> np.ndarray:
        return np.array([model_r(ie, x[0], p) for p in lossy]) - observed

    bpl = float(least_squares(residuals, x0=[20.0], bounds=([1.0], [200.0])).x[0])
    r_rms = float(np.sqrt(np.mean([(model_r(ie, bpl, p) - r_of_mos(p.pesq)) ** 2 for p in points])))
    mos_rms = float(np.sqrt(np.mean([(mos(model_r(ie, bpl, p)) - p.pesq) ** 2 for p in points])))
    return ie, bpl, r_rms, mos_rms


def markdown(fits: dict[str, tuple[float, float, float, float]], table: list[Point], seconds: float) -> str:
    lines = [
        "# E-model factors calibrated against PESQ",
        "",
        "Generated by `scripts/calibrate_emodel.py` (the method is in its docstring; it ran in "
        f"{seconds:.0f} s). Each condition: the four built-in voices, 18-20 s each, through a Gilbert "
        "loss pattern of its own, replayed through the jitter buffer and the real decoder with its "
        "concealment. PESQ is narrowband (P.862) for G.711 and wideband (P.862.2) for Opus.",
        "",
        "## Fitted factors",
        "",
        "| codec | Ie fitted | Bpl fitted | fit error (R, RMS) | fit error (MOS, RMS) | G.113 Appendix I |",
        "|---|---|---|---|---|---|",
    ]
    published = {"g711": "Ie 0, Bpl 25.1", "g711-noplc": "Ie 0, Bpl 4.3"}
    for name, (ie, bpl, r_rms, mos_rms) in fits.items():
        lines.append(f"| {name} | {ie:.1f} | {bpl:.1f} | {r_rms:.1f} | {mos_rms:.2f} | "
                     f"{published.get(name, 'none (Opus)')} |")
    lines += [
        "",
        "The harness uses the fitted values for the Opus presets (testbed/measure/emodel.py) and "
        "G.113's for G.711. G.711 through this method lands at the Ie and Bpl above: the distance "
        "from G.113's values is this method's own bias (synthetic speech, PESQ's view of "
        "concealment), and it is why only the presets without published values take fitted ones.",
        "",
        "## E-model MOS against PESQ and ViSQOL",
        "",
        "MOS-LQ is the E-model's listening quality (no delay) from the realised loss and BurstR, with "
        "the factors the harness uses; PESQ and ViSQOL are means over the four voices.",
        "",
        "| codec | loss asked (%) | mean burst asked | loss (%) | BurstR | E-model MOS-LQ | PESQ | ViSQOL |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in table:
        codec = CODECS[p.preset]
        e_mos = mos(R_CLEAN - effective_equipment_impairment(codec.ie, codec.bpl, p.ppl, p.burst_r))
        lines.append(f"| {p.preset} | {p.loss:g} | {p.burst:g} | {p.ppl:.1f} | {p.burst_r:.2f} "
                     f"| {e_mos:.2f} | {p.pesq:.2f} | {p.visqol:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "speech-calibration.md")
    args = parser.parse_args(argv)
    started = time.monotonic()
    fits = {}
    for name in FITTED:
        points = [measure(name, loss, burst, False) for loss in LOSSES for burst in BURSTS
                  if loss or burst == 1]
        fits[name] = fit(points)
        print(f"{name}: Ie {fits[name][0]:.1f}, Bpl {fits[name][1]:.1f}, RMS error R {fits[name][2]:.1f}, "
              f"MOS {fits[name][3]:.2f}", flush=True)
    table = [measure(name, loss, burst, True) for name in FITTED for loss, burst in TABLE_PATTERNS]
    args.out.write_text(markdown(fits, table, time.monotonic() - started))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
