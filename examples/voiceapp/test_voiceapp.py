"""The example app's own tests, on a censored network: what an app developer writes with the
testbed's pytest fixture (`censored_network`, installed with the testbed). Run as root:

    sudo .venv/bin/python -m pytest examples/voiceapp
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

HERE = Path(__file__).parent
APP = HERE / "voiceapp.py"


def call(net, seconds: float = 2) -> dict:
    """The app's server on "server", a call from "phone": the call's own figures."""
    with net["server"].popen(["python3", APP, "serve", "--port", "5000"], stdout=subprocess.PIPE) as server:
        assert server.stdout.readline().startswith("listening")  # ready: it listens
        result = net["phone"].run(["python3", APP, "call", net["server"].ipv4, "--seconds", str(seconds)])
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_policed_replies_lose_about_half_and_the_censor_counts_them(censored_network) -> None:
    net = censored_network(HERE / "throttled.yaml", inside=["phone"], outside=["server"])
    figures = call(net)
    # 18,800 bytes of echoes against 2,000 B/s for 2 s and a full bucket (4,048 bytes): 57 % lost
    assert 40 < figures["loss_pct"] < 75
    counted = net.counts()
    assert counted[("app", "uplink")].packets == counted[("app", "downlink")].packets == figures["sent"]
    assert counted[("app", "downlink")].dropped == figures["sent"] - figures["received"]
    net.clear()  # the same network, no profile
    assert call(net, 1)["loss_pct"] == 0


def test_a_clean_path_loses_nothing(censored_network) -> None:
    net = censored_network(inside=["phone"], outside=["server"])
    figures = call(net)
    assert figures["loss_pct"] == 0 and figures["rtt_ms"] < 50
