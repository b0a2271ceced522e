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


def test_twitter_policer_and_freeze_residual_keep_state_for_10_minutes(topo, tmp_path) -> None:
    """The durations no signature can wait for: per-flow policer state and the freeze's
    residual block are kernel set entries that expire after 600 s."""
    from testbed.profile.loader import resolve_profile_path
    from tests.host.conftest import apply_profile
    from tests.host.helpers import tcp_download

    apply_profile(topo, resolve_profile_path("ru-2021-twitter-throttle"))
    server = topo.node("callee")
    tcp_download(server.netns, topo.node("caller").netns, server.address(), 20_000, port=443)
    elements = _set_elements(topo.censor.netns, "pol_twitter_down_v4")
    assert elements, "the download's flow has policer state"
    for element in elements:
        assert 590 <= element["elem"]["expires"] <= 600

    apply_profile(topo, resolve_profile_path("ru-2025-16kb-freeze"))
    assert _set_elements(topo.censor.netns, "res_udp_block_up_v4") == []
