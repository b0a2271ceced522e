"""A profile's netem fields -> the NetemParams of a netem leaf (the order and the defaults tc
uses): pure."""

from __future__ import annotations

from testbed.compile.plan import NETEM_LIMIT, NetemParams
from testbed.profile.actions import Netem


def netem_params(netem: Netem, base_delay_ns: int = 0) -> NetemParams:
    loss = netem.loss
    state = gemodel = None
    if loss and loss.state:
        s = loss.state
        state = (s.p13, s.p31 if s.p31 is not None else 100.0 - s.p13, s.p32, s.p23, s.p14)
    if loss and loss.gemodel:
        g = loss.gemodel
        gemodel = (g.p, g.r, g.loss_in_bad, g.loss_in_good)
    slot = None
    if netem.slot:
        sl = netem.slot
        slot = (sl.min, sl.max if sl.max is not None else sl.min, sl.packets or 0, sl.bytes or 0)
    reorder = netem.reorder
    return NetemParams(
        limit=netem.limit or NETEM_LIMIT,
        delay_ns=(netem.delay or 0) + base_delay_ns,
        jitter_ns=netem.jitter or 0,
        delay_correlation_pct=netem.delay_correlation or 0.0,
        distribution=netem.distribution if netem.distribution != "uniform" else None,
        loss_pct=(loss.random or 0.0) if loss else 0.0,
        loss_correlation_pct=(loss.correlation or 0.0) if loss else 0.0,
        loss_state=state,
        loss_gemodel=gemodel,
        duplicate_pct=netem.duplicate.percent if netem.duplicate else 0.0,
        duplicate_correlation_pct=(netem.duplicate.correlation or 0.0) if netem.duplicate else 0.0,
        corrupt_pct=netem.corrupt.percent if netem.corrupt else 0.0,
        corrupt_correlation_pct=(netem.corrupt.correlation or 0.0) if netem.corrupt else 0.0,
        reorder_pct=reorder.percent if reorder else 0.0,
        reorder_correlation_pct=(reorder.correlation or 0.0) if reorder else 0.0,
        gap=(reorder.gap or 1) if reorder else 0,
        rate_bps=netem.rate.rate if netem.rate else 0,
        packet_overhead=netem.rate.packet_overhead if netem.rate else 0,
        cell_size=netem.rate.cell_size if netem.rate else 0,
        cell_overhead=netem.rate.cell_overhead if netem.rate else 0,
        slot=slot,
        ecn=netem.ecn,
    )
