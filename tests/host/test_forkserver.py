"""The testbed's programs forked into a node (testbed/kernel/forkserver.py) run in that
node's namespace, where the topology's teardown finds and stops them."""

from __future__ import annotations

import os
import sys

from testbed.kernel import forkserver, netns
from testbed.scenario.session import Experiment

PROGRAM = "tests.unit.forked_program"


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def test_a_forked_program_runs_in_its_nodes_namespace_and_down_stops_it() -> None:
    with Experiment(label="h") as session:
        censor = session.state.censor.netns
        proc = forkserver.start(censor, PROGRAM, ["sleep"])
        _, pid, namespace = proc.stdout.readline().split()
        assert namespace == f"net:[{os.stat(netns.NETNS_DIR / censor).st_ino}]"
        assert namespace != os.readlink("/proc/self/ns/net")
        assert int(pid) in netns.pids(censor)
        # the testbed's own programs go to the fork server; `serving` stops its one on the way out
        chat = [sys.executable, "-m", "testbed.traffic.chat", "server", "5999", "30"]
        with netns.serving(censor, chat) as served:
            assert _parent(served.pid) == forkserver._client.process.pid
            assert served.pid in netns.pids(censor)
        assert served.returncode is not None
    assert proc.wait(timeout=30) < 0, "down stopped the program it found in the namespace"
