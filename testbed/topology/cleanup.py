"""What `testbed clean` removes, and what it leaves alone.

Every run has a state file naming its owner: the process that tears it down (try, calls,
matrix, run, a test), or none for a run kept up by `testbed up`. Without options, clean
removes leftovers only: runs whose owner is gone (killed with -9, crashed), namespaces
no run claims, and probe namespaces of dead processes. `--run ID` removes one run,
`--all` every run on the machine (as `mn -c` does for Mininet), and `--pid PID` only the
leftovers of one process, so that scripts and tests sharing a machine clean up after
themselves without touching what another run left for its own owner to inspect.
"""

from __future__ import annotations

import subprocess

from testbed.kernel import netns, readers
from testbed.kernel.probe import PROBE_PREFIX
from testbed.kernel.process import alive, owned_by
from testbed.topology.build import down, remove_nat, remove_netns, running
from testbed.topology.model import NS_PREFIX, TopologyState, made_by, nat_table, state_path


def _state(run_id: str) -> TopologyState | None:
    try:
        return TopologyState.load(run_id)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # unreadable: treated as a leftover


def leftover(run_id: str) -> bool:
    """A run whose owner has gone (a run kept up by `testbed up` has none, and is not one)."""
    state = _state(run_id)
    return state is None or (state.owner is not None and not alive(state.owner, state.owner_started))


def created_by(run_id: str, pid: int, started: int | None = None) -> bool:
    """Whether process `pid` (started at `started`, when given) made run `run_id`: its state
    file names it as the owner, or (with no owner on record) the run id was given out in a
    process with that pid."""
    state = _state(run_id)
    if state is not None and state.owner is not None:
        return owned_by(state.owner, state.owner_started, pid, started)
    return made_by(run_id, pid)


def _run_of(namespace: str) -> str:
    """tb-RUN-NODE -> RUN."""
    return namespace.removeprefix(NS_PREFIX).split("-", 1)[0]


def _nat_tables() -> list[str]:
    """The runs whose NAT tables are in this namespace."""
    listing = subprocess.run(["nft", "list", "tables", "ip"], capture_output=True, text=True).stdout
    prefix = nat_table("")
    return [line.split()[-1].removeprefix(prefix) for line in listing.splitlines()
            if line.split() and line.split()[-1].startswith(prefix)]


def _root_links() -> list[str]:
    listing = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in listing.splitlines()]


def clean(everything: bool = False, run: str | None = None, pid: int | None = None,
          pid_started: int | None = None) -> list[str]:
    """Remove leftovers (or run `run`, or with `everything` every run; with `pid` only the
    leftovers process `pid`, started at `pid_started` when given, made); what was removed."""
    def ours(run_id: str) -> bool:
        return pid is None or made_by(run_id, pid)

    removed: list[str] = []
    runs = [run] if run else [r for r in running() if (everything or leftover(r))
                              and (pid is None or created_by(r, pid, pid_started))]
    for run_id in runs:
        removed += [f"namespace {name}" for name in down(run_id)]
        removed.append(f"run {run_id}")
        state_path(run_id).unlink(missing_ok=True)
    if run is not None:
        return removed
    claimed = set(running())
    namespaces = sorted(netns.NETNS_DIR.glob(f"{NS_PREFIX}*")) if netns.NETNS_DIR.exists() else []
    for path in namespaces:
        run_id = _run_of(path.name)
        if run_id not in claimed and ours(run_id) and remove_netns(path.name):
            removed.append(f"namespace {path.name} (of no run)")
    probes = sorted(netns.NETNS_DIR.glob(f"{PROBE_PREFIX}*")) if netns.NETNS_DIR.exists() else []
    for path in probes:
        owner = path.name.removeprefix(PROBE_PREFIX)
        if pid is not None and owner != str(pid):
            continue
        if (everything or not owner.isdigit() or not alive(int(owner), None)) and remove_netns(path.name):
            removed.append(f"namespace {path.name}")
    for run_id in _nat_tables():  # a run's masquerading, in this namespace: `nat: true`
        if run_id not in claimed and ours(run_id) and remove_nat(run_id):
            removed.append(f"nft table ip {nat_table(run_id)}")
    for where in sorted(readers.READERS_DIR.glob(f"{NS_PREFIX}*")) if readers.READERS_DIR.exists() else []:
        namespace = where.name.split(".", 1)[0]  # a namespace deleted under its reader
        if not netns.exists(namespace) and ours(_run_of(namespace)):
            removed += [f"reader {path.name}" for path in readers.forget(namespace)]
    for name in _root_links():  # the Mininet backend makes links in this namespace first
        if name.startswith(NS_PREFIX) and _run_of(name) not in claimed and ours(_run_of(name)):
            subprocess.run(["ip", "link", "del", name], capture_output=True)
            removed.append(f"interface {name}")
    return removed
