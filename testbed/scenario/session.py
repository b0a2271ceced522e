"""The experiment session: one topology for one piece of work, and everything around it.

    with Experiment(TopologySpec(), label="t", progress=print) as session:
        session.apply(loaded_profile)          # compile for this topology, apply, verify
        run_calls(session.endpoint("caller"), session.endpoint("callee"))
        session.apply(None)                    # back to a clean path
    # the topology is gone, whatever happened inside: an exception, Ctrl-C, SIGTERM

Every command and test that needs a topology for itself (try, calls, matrix, run, the host
tests, the benchmarks) uses this. Its run id is unique per process (testbed/topology/
model.py), so sessions of two processes never meet, and the state file names this process
as the owner, so `testbed clean` can tell a live run from a leftover.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from testbed.compile.compiler import Target, compile_profile
from testbed.compile.plan import Plan, ReaderPlan
from testbed.kernel import apply as engine
from testbed.kernel import counters, readers
from testbed.kernel.netns import Endpoint
from testbed.profile.loader import LoadedProfile
from testbed.topology import build
from testbed.topology.model import TopologySpec, TopologyState, unique_run_id

Progress = Callable[[str], None]
CountKey = tuple[str, str, str]  # profile, class, direction

_live: set[Experiment] = set()
_live_lock = threading.Lock()


class Experiment:
    """A fresh topology (inside hosts, censor, outside hosts) owned by this process."""

    def __init__(self, topology: TopologySpec | None = None, *, label: str = "x",
                 progress: Progress = lambda _: None) -> None:
        self.spec = topology or TopologySpec()
        self.run_id = unique_run_id(label)
        self.progress = progress
        self.profile: str | None = None  # the profile applied now
        self._state: TopologyState | None = None
        self._counted: dict[CountKey, counters.ClassCounts] = {}  # what profiles applied before counted
        self._reading: tuple[str, str, ReaderPlan] | None = None  # profile, table, spec of the reader now
        self._read_offset = 0  # its decisions already handed out
        self._read_before: list[dict] = []  # decisions of readers since replaced, not handed out yet

    def __enter__(self) -> Experiment:
        with _live_lock:
            _live.add(self)
        self.progress(f"bringing up the topology (run {self.run_id})")
        try:
            self._state = build.up(self.spec, self.run_id, owner=os.getpid())
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Tear the topology down (idempotent: safe from an interrupt handler too)."""
        with _live_lock:
            _live.discard(self)
        state, self._state = self._state, None
        if state is not None:
            self.progress("tearing down")
            build.down(self.run_id, state)

    @property
    def state(self) -> TopologyState:
        if self._state is None:
            raise RuntimeError("the session is not open: use it in a `with` block")
        return self._state

    @property
    def target(self) -> Target:
        return Target(self.state.devices("outside"), self.state.devices("inside"))

    def endpoint(self, node: str) -> Endpoint:
        return self.state.endpoint(node)

    def plan(self, loaded: LoadedProfile) -> Plan:
        return compile_profile(loaded, self.target)

    def check(self, loaded: LoadedProfile) -> Plan:
        """Everything that could stop `apply` later (features, devices, nft), changing nothing."""
        plan = self.plan(loaded)
        engine.check_plan(plan, self.state.censor.netns)
        return plan

    def counts(self) -> dict[CountKey, counters.ClassCounts]:
        """What every class of every profile this session applied has done so far (the
        counters of a profile that was replaced, kept from just before it went)."""
        total = dict(self._counted)
        for key, counted in self._live_counts().items():
            total[key] = total[key].plus(counted) if key in total else counted
        return total

    def _live_counts(self) -> dict[CountKey, counters.ClassCounts]:
        if self.profile is None:
            return {}
        return {(self.profile, c.traffic_class, c.direction): c
                for c in counters.read(self.state.censor.netns, self.target)}

    def decisions(self) -> list[dict]:
        """The flows the censor's readers decided since the last call, each with its profile."""
        found, self._read_before = [*self._read_before, *self._live_decisions()], []
        return found

    def _live_decisions(self) -> list[dict]:
        if self._reading is None:
            return []
        profile, table, _ = self._reading
        found = readers.decisions(self.state.censor.netns, table)
        new, self._read_offset = found[self._read_offset:], len(found)
        return [{"profile": profile, **decision} for decision in new]

    def check_reader(self) -> None:
        """Raise ReaderFailed (exit 4, with its reason) if the applied profile's reader has
        died: whatever its `fail` let the kernel do, the run did not measure the profile."""
        if self._reading is None:
            return
        (profile, table, _), ns = self._reading, self.state.censor.netns
        if not readers.running(ns, table):
            reason = readers.failure(ns, table) or "it is not running"
            raise readers.ReaderFailed(f"the censor's reader ({profile}) stopped during the run: {reason}")

    def apply(self, loaded: LoadedProfile | None) -> float:
        """Put `loaded` on the censor (None: a clean path). Returns the seconds it took."""
        started = time.perf_counter()
        if self.profile is not None and (loaded is None or loaded.profile.name != self.profile):
            self._counted = self.counts()  # its table goes, and its counters with it
        self._read_before += self._live_decisions()  # a new or stopped reader starts its record afresh
        if loaded is None:
            target = self.target
            engine.clear_devices(self.state.censor.netns, [*target.uplink_devices, *target.downlink_devices],
                                 target.table)
            self.profile, self._reading = None, None
        else:
            plan = self.plan(loaded)
            self.progress(f"applying {plan.profile}")
            engine.apply(plan, self.state.censor.netns)
            reading = (plan.profile, plan.nft.table, plan.reader) if plan.reader is not None else None
            if reading is None or self._reading is None or reading[1:] != self._reading[1:]:
                self._read_offset = 0  # a reader kept running (the same spec) keeps its record
            self.profile, self._reading = plan.profile, reading
        return time.perf_counter() - started


def close_all() -> None:
    """Tear down every session this process still holds (the CLI's interrupt path: worker
    threads of a matrix may hold sessions the main thread cannot unwind)."""
    with _live_lock:
        sessions = list(_live)
    for session in sessions:
        session.close()
