"""A censored network for your own tests: a fresh topology (your hosts inside and outside, a
censor between them), a profile on the censor, and your programs in the hosts.

    from testbed.testing import censored_network

    with censored_network("ru-2025-calls-degraded", inside=["phone"], outside=["server"]) as net:
        with net["server"].popen(["my-server", "--port", "5000"]):
            result = net["phone"].run(["my-client", net["server"].ipv4])
        net.apply("clean")      # another profile, mid-test
        net.clear()             # no profile: a clean path
        net.counts()            # what each class of the profile took, dropped and sent
        net.decisions()         # what the censor's reader read from each flow (profiles that read)

With pytest, the `censored_network` fixture (registered by installing this package) does the
same and tears the network down at the end of the test; it skips the test, saying why and
how to run it in the testbed VM instead, when this process is not root or this kernel lacks
what the profile needs. Everything a network creates is named after its own run id: it
never touches another run, and `testbed clean` removes what a killed test left behind.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from testbed.errors import InputError
from testbed.kernel import counters, netns, process
from testbed.profile.loader import LoadedProfile, load_profile, resolve_profile_path
from testbed.scenario.session import Experiment
from testbed.topology.model import HostSpec, TopologySpec

VM_HINT = ("run the tests in the testbed VM instead: `sudo .venv/bin/testbed vm run -- python3 -m pytest "
           "PATH` (the project tree and the current directory are shared with it, and the fixture is "
           "installed there)")


class Unavailable(Exception):
    """This process cannot build a censored network here (the fixture skips, saying why)."""


def _loaded(profile: str | Path | LoadedProfile | None) -> LoadedProfile | None:
    if profile is None or isinstance(profile, LoadedProfile):
        return profile
    return load_profile(resolve_profile_path(str(profile)))


def unavailable(profile: str | Path | LoadedProfile | None = None) -> str | None:
    """Why a censored network (with `profile`) cannot be built here, or None if it can."""
    from testbed.compile.compiler import compile_profile
    from testbed.kernel import probe

    if os.geteuid() != 0:
        return f"a censored network needs root (namespaces, tc, nft): run pytest as root, or {VM_HINT}"
    loaded = _loaded(profile)
    if loaded is None:
        return None
    missing = probe.missing_features(compile_profile(loaded).features)
    if missing:
        return f"this kernel lacks {', '.join(missing)} (profile {loaded.profile.name}): {VM_HINT}"
    return None


@dataclass(frozen=True)
class Host:
    """One host of the network: its addresses, and programs run inside it."""

    name: str
    namespace: str
    ipv4: str
    ipv6: str

    def command(self, argv: Sequence[str]) -> list[str]:
        """`argv` as it runs in this host (ip netns exec ...), for subprocess functions of your own."""
        return netns.command(self.namespace, [str(a) for a in argv])

    def run(self, argv: Sequence[str], timeout: float | None = 60, check: bool = False,
            **kwargs) -> subprocess.CompletedProcess[str]:
        """Run a program in this host to its end; its output captured as text."""
        return subprocess.run(self.command(argv), capture_output=True, text=True, timeout=timeout,
                              check=check, **kwargs)

    @contextlib.contextmanager
    def popen(self, argv: Sequence[str], **kwargs) -> Iterator[subprocess.Popen[str]]:
        """Start a program (a server) in this host for the `with` block; it is stopped after."""
        started = subprocess.Popen(self.command(argv), text=True, **kwargs)
        try:
            yield started
        finally:
            process.stop(started)


class CensoredNetwork:
    """A live network: hosts by name (net["phone"]), and the censor's profile."""

    def __init__(self, session: Experiment) -> None:
        self._session = session
        self.hosts = {name: Host(name, node.netns, node.address(4), node.address(6))
                      for name, node in session.state.nodes.items() if name != "censor"}

    def __getitem__(self, name: str) -> Host:
        if name not in self.hosts:
            raise KeyError(f"no host {name!r} (hosts: {', '.join(self.hosts)})")
        return self.hosts[name]

    @property
    def run_id(self) -> str:
        return self._session.run_id

    @property
    def profile(self) -> str | None:
        """The profile on the censor now (None: a clean path)."""
        return self._session.profile

    def apply(self, profile: str | Path | LoadedProfile) -> None:
        """Put a profile (a catalog name, a file, or a loaded profile) on the censor."""
        self._session.apply(_loaded(profile))

    def clear(self) -> None:
        """A clean path: no profile on the censor."""
        self._session.apply(None)

    def decisions(self) -> list[dict]:
        """The flows the censor's reader decided since the last call (profiles that read
        tls_sni, http_host, ...): client, server, what it read, packets, the tests that held."""
        return self._session.decisions()

    def counts(self) -> dict[tuple[str, str], counters.ClassCounts]:
        """What each class of the profile now applied did, by (class, direction)."""
        return {(c.traffic_class, c.direction): c for (profile, _, _), c in self._session.counts().items()
                if profile == self._session.profile}


@contextlib.contextmanager
def censored_network(profile: str | Path | LoadedProfile | None = None, inside: Sequence[str] = ("caller",),
                     outside: Sequence[str] = ("callee",)) -> Iterator[CensoredNetwork]:
    """A fresh network with `inside` and `outside` hosts and `profile` on its censor (None: a
    clean path), torn down on the way out. Unavailable when it cannot be built here."""
    loaded = _loaded(profile)
    reason = unavailable(loaded)
    if reason:
        raise Unavailable(reason)
    try:
        spec = TopologySpec(inside=[HostSpec(name=n) for n in inside],
                            outside=[HostSpec(name=n) for n in outside])
    except ValueError as exc:
        raise InputError.single(f"censored_network: {exc}") from None
    with Experiment(spec, label="p") as session:
        network = CensoredNetwork(session)
        if loaded is not None:
            session.apply(loaded)
        yield network
