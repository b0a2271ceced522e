"""What netem loses in a class's queue, counted (the host kernel has no netem: the rest of
the counters are tests/host/test_counters.py)."""

from __future__ import annotations

from tests.host.conftest import apply_profile, profile_dict
from tests.host.helpers import send_udp


def test_netem_loss_is_counted_in_the_class_queue(topo, tmp_path) -> None:
    from testbed.compile.compiler import Target
    from testbed.kernel import counters

    apply_profile(topo, profile_dict("lossy", classes=[
        {"name": "lost", "match": {"protocol": "udp", "dst_port": 5000}, "uplink": {"netem": {"loss": "100%"}}}]),
        tmp_path)
    send_udp(topo.nodes["caller"].netns, topo.nodes["callee"].address(), 5000, 40, stun=False)
    read = counters.read(topo.censor.netns, Target(topo.devices("outside"), topo.devices("inside")))
    lost = next(c for c in read if (c.traffic_class, c.direction) == ("lost", "uplink"))
    assert (lost.packets, lost.dropped, lost.sent, lost.queue_drops) == (40, 0, 0, 40)
