"""Host tier: real namespaces, real packets, the host kernel. Needs root (CI runs as root)."""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.compile.compiler import Target, compile_profile
from testbed.compile.plan import Plan
from testbed.kernel import apply as engine
from testbed.kernel import netns
from testbed.kernel.process import alive
from testbed.profile.loader import load_profile
from testbed.scenario.session import Experiment
from testbed.topology.model import TopologyState, unique_run_id

# The host tier can run on two pytest-xdist workers (`-n 2 --dist loadgroup`; most tests wait on real
# time, not on a core). Tests that send work to the testbed VM go to one worker together (one
# warm VM, one emulated machine at a time); tests marked `alone` compare the whole machine's
# state before and after, so no other test runs beside them (a lock every test shares).
MACHINE_LOCK = Path(tempfile.gettempdir()) / "testbed-host-tier.lock"


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups off the items
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/host/" in str(item.fspath):
            item.add_marker(pytest.mark.host)
            if Path(str(item.fspath)).name.startswith("test_vm_") or "warm_vm" in item.fixturenames:
                item.add_marker(pytest.mark.xdist_group("vm"))


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Refuse to run when pytest-xdist's groups do not hold (it renames grouped tests): VM tests
    on two workers would boot two warm VMs, each taking the other's for someone else's."""
    if getattr(session.config.option, "loadgroup", False):  # a pytest-xdist worker of --dist loadgroup
        loose = [item.nodeid for item in session.items
                 if item.get_closest_marker("xdist_group") and "@" not in item.nodeid]
        if loose:
            raise pytest.UsageError(f"pytest-xdist did not group {loose[0]} (pytest {pytest.__version__} "
                                    "with this pytest-xdist; pyproject.toml pins what works)")


@pytest.fixture(autouse=True)
def _machine_shared(request: pytest.FixtureRequest) -> Iterator[None]:
    alone = request.node.get_closest_marker("alone") is not None
    with MACHINE_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        yield


@pytest.fixture(autouse=True)
def _root() -> None:
    if os.geteuid() != 0:
        pytest.fail("the host tier builds network namespaces: run it as root (sudo)")


@pytest.fixture(scope="session", autouse=True)
def users_run() -> Iterator[str]:
    """A run of "someone else's", kept up (as `testbed up` leaves one) for the whole host tier:
    the suite must pass beside it and leave it exactly as it was (tests clean up only what
    they made; plain `testbed clean` removes leftovers, not live runs)."""
    from testbed.topology import build
    from testbed.topology.model import TopologySpec

    if os.geteuid() != 0:
        yield ""
        return
    run = unique_run_id("u")
    state = build.up_to_stay(TopologySpec(), run)
    yield run
    try:
        assert_untouched(run)
    finally:
        build.down(run, state)


def assert_untouched(run: str) -> None:
    """`run` (the users_run fixture's) is still whole: its state file and every namespace."""
    from testbed.topology.model import TopologyState, state_path

    assert state_path(run).exists(), f"the user's run {run} lost its state file"
    missing = [n.netns for n in TopologyState.load(run).nodes.values() if not netns.exists(n.netns)]
    assert not missing, f"the user's run {run} lost its namespaces {missing}"


def new_run_id() -> str:
    """A run id of this test process only: tests never touch runs they did not create."""
    return unique_run_id("h")


@pytest.fixture
def topo() -> Iterator[TopologyState]:
    """A fresh default topology (caller -- censor -- callee) of this test's own."""
    with Experiment(label="h") as session:
        yield session.state


def plan_for(state: TopologyState, profile: Path | dict, tmp_path: Path | None = None) -> Plan:
    if isinstance(profile, dict):
        import yaml

        assert tmp_path is not None
        path = tmp_path / f"{profile['name']}.yaml"
        path.write_text(yaml.safe_dump(profile))
        profile = path
    return compile_profile(load_profile(profile), Target(state.devices("outside"), state.devices("inside")))


def apply_profile(state: TopologyState, profile: Path | dict, tmp_path: Path | None = None) -> Plan:
    plan = plan_for(state, profile, tmp_path)
    engine.apply(plan, state.censor.netns)
    return plan


def profile_dict(name: str, **fields) -> dict:
    return {"name": name, "title": name, "confidence": "guessed", **fields}


@pytest.fixture(scope="session")
def warm_vm(tmp_path_factory) -> Iterator[Path | None]:
    """The warm VM (`testbed vm up`), booted once for the host tier's tests that send work to
    the VM (a boot per command cost 30-50 s each) and sharing its scratch directories; None
    when a warm VM of someone else's was up already (used as it is, or not, and left up)."""
    from testbed.vm import warm
    from tests.cli import run_cli

    if warm.find() is not None:
        yield None
        return
    shared = tmp_path_factory.getbasetemp()
    up = run_cli("vm", "up", "--share", str(shared), timeout=600)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "the warm testbed VM is up" in up.stdout and str(shared) in up.stdout
    vm = warm.find()
    try:
        yield shared
    finally:
        down = run_cli("vm", "down")
        assert down.returncode == 0 and "stopped" in down.stdout, down.stdout + down.stderr
        assert warm.find() is None and not alive(vm.pid, vm.started), "vm down stopped it"
        assert not list(warm.WarmVM.RECORDS.glob("warm.*")), "and forgot it"
