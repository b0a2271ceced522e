"""Each catalog profile that needs no netem shows its signature on the host kernel too
(the VM tier runs every profile's signature, netem or not)."""

from __future__ import annotations

import pytest

from tests.signatures import profiles, run_signature


@pytest.mark.parametrize("name", profiles(netem=False))
def test_signature_on_the_host_kernel(name: str, tmp_path) -> None:
    run_signature(name, tmp_path)


def _set_elements(ns: str, name: str) -> list[dict]:
    import json

    from testbed.kernel import netns

    listing = json.loads(netns.run(ns, ["nft", "-j", "list", "set", "inet", "testbed", name]).stdout)
    (found,) = [item["set"] for item in listing["nftables"] if "set" in item]
    assert found.get("timeout") == 600, found  # what the kernel holds, in seconds
    return found.get("elem", [])


def test_twitter_policer_and_freeze_residual_keep_state_for_10_minutes() -> None:
    """The durations no signature can wait for: per-flow policer state and the freeze's
    residual block are kernel set entries that expire after 600 s."""
    from testbed.profile.loader import resolve_profile_path
    from testbed.topology import build
    from testbed.topology.model import TopologySpec
    from tests.host.conftest import apply_profile, new_run_id
    from tests.host.helpers import send_udp, tcp_download

    run = new_run_id()
    topo = build.up(TopologySpec(outside=["twitter=104.244.42.65", "dc=5.9.10.20"]), run)
    try:
        caller, twitter, dc = topo.node("caller"), topo.node("twitter"), topo.node("dc")
        apply_profile(topo, resolve_profile_path("ru-2021-twitter-throttle-by-address"))
        tcp_download(twitter.netns, caller.netns, twitter.address(), 20_000, port=443)
        elements = _set_elements(topo.censor.netns, "pol_twitter_down_v4")
        assert elements, "the download's flow has policer state"
        assert all(590 <= e["elem"]["expires"] <= 600 for e in elements)

        apply_profile(topo, resolve_profile_path("ru-2025-16kb-freeze"))
        send_udp(caller.netns, dc.address(), 443, 3, stun=False)
        (element,) = _set_elements(topo.censor.netns, "res_udp_block_up_v4")
        assert element["elem"]["val"] == "5.9.10.20" and 590 <= element["elem"]["expires"] <= 600
    finally:
        build.down(run)
