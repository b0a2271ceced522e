"""What `testbed clean` removes, and what it leaves alone.

Every run has a state file naming its owner: the process that tears it down (try, calls,
matrix, run, a test), or none for a run kept up by `testbed up`. Without options, clean
removes leftovers only: runs whose owner is gone (killed with -9, crashed), namespaces
no run claims, and probe namespaces of dead processes. `--run ID` removes one run,
`--all` every run on the machine (as `mn -c` does for Mininet).
"""

from __future__ import annotations

import subprocess

from testbed.kernel import netns
from testbed.kernel.probe import PROBE_PREFIX
from testbed.kernel.process import alive
from testbed.topology.build import down, remove_netns, running
from testbed.topology.model import NS_PREFIX, TopologyState, state_path


def _state(run_id: str) -> TopologyState | None:
    try:
        return TopologyState.load(run_id)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # unreadable: treated as a leftover


def leftover(run_id: str) -> bool:
    """A run whose owner has gone (a run kept up by `testbed up` has none, and is not one)."""
    state = _state(run_id)
    return state is None or (state.owner is not None and not alive(state.owner, state.owner_started))


def _run_of(namespace: str) -> str:
    """tb-RUN-NODE -> RUN."""
    return namespace.removeprefix(NS_PREFIX).split("-", 1)[0]


def _root_links() -> list[str]:
    listing = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in listing.splitlines()]


def clean(everything: bool = False, run: str | None = None) -> list[str]:
    """Remove leftovers (or run `run`, or with `everything` every run); what was removed."""
    removed: list[str] = []
    runs = [run] if run else [r for r in running() if everything or leftover(r)]
    for run_id in runs:
        removed += [f"namespace {name}" for name in down(run_id)]
        removed.append(f"run {run_id}")
        state_path(run_id).unlink(missing_ok=True)
    if run is not None:
        return removed
    claimed = set(running())
    namespaces = sorted(netns.NETNS_DIR.glob(f"{NS_PREFIX}*")) if netns.NETNS_DIR.exists() else []
    for path in namespaces:
        if _run_of(path.name) not in claimed and remove_netns(path.name):
            removed.append(f"namespace {path.name} (of no run)")
    probes = sorted(netns.NETNS_DIR.glob(f"{PROBE_PREFIX}*")) if netns.NETNS_DIR.exists() else []
    for path in probes:
        pid = path.name.removeprefix(PROBE_PREFIX)
        if (everything or not pid.isdigit() or not alive(int(pid), None)) and remove_netns(path.name):
            removed.append(f"namespace {path.name}")
    for name in _root_links():  # the Mininet backend makes links in this namespace first
        if name.startswith(NS_PREFIX) and _run_of(name) not in claimed:
            subprocess.run(["ip", "link", "del", name], capture_output=True)
            removed.append(f"interface {name}")
    return removed


