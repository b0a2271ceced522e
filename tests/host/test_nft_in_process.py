"""`nft` through libnftables in this process (kernel/nft.py) does what the `nft` program does
in the same namespace: the same listings, errors and exit codes, in that namespace only."""

from __future__ import annotations

import subprocess

import pytest

from testbed.kernel import netns, nft
from testbed.scenario.session import Experiment

RULESET = """table inet tbtest {
\tcomment "testbed plan 0123"
\tset blocked { type ipv4_addr; elements = { 192.0.2.1, 192.0.2.7 } }
\tchain forward { type filter hook forward priority 0; policy accept;
\t\tip daddr @blocked counter drop
\t\tudp dport 5000 counter accept
\t}
}
"""


def _program(ns: str, args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", ns, "nft", *args], input=stdin, capture_output=True, text=True)


def test_libnftables_answers_as_the_program_does_in_the_nodes_namespace() -> None:
    assert nft.binding() is not None, "python3-nftables is installed (scripts/setup.sh)"
    with Experiment(label="h") as session:
        censor, callee = session.state.censor.netns, session.state.nodes["callee"].netns
        dry = netns.run(censor, ["nft", "-c", "-f", "-"], stdin=RULESET)
        assert (dry.returncode, dry.stdout, dry.stderr) == (0, "", "")
        assert "tbtest" not in _program(censor, ["list", "tables"]).stdout, "a dry run changes nothing"
        netns.run(censor, ["nft", "-f", "-"], stdin=RULESET)
        assert "table inet tbtest" in _program(censor, ["list", "tables"]).stdout
        assert _program(callee, ["list", "tables"]).stdout == "", "loaded in the censor's namespace only"
        assert "tbtest" not in subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
        for args in (["list", "ruleset"], ["-t", "list", "table", "inet", "tbtest"],
                     ["-j", "list", "table", "inet", "tbtest"], ["-t", "-j", "list", "table", "inet", "tbtest"],
                     ["list", "table", "inet", "absent"], ["delete", "table", "inet", "absent"]):
            ours, theirs = netns.run(censor, ["nft", *args], check=False), _program(censor, args)
            assert (ours.returncode, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr)
        bad = netns.run(censor, ["nft", "-f", "-"], stdin="table inet x { chain c { frobnicate; } }\n", check=False)
        assert bad.returncode == 1 and "Error: syntax error" in bad.stderr
        with pytest.raises(netns.CommandFailed, match="No such file or directory"):
            netns.run(censor, ["nft", "delete", "table", "inet", "absent"])
        netns.run(censor, ["nft", "delete", "table", "inet", "tbtest"])
        assert _program(censor, ["list", "tables"]).stdout == ""
