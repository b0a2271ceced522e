"""Reach into a named network namespace: pyroute2 sockets for netlink, `ip netns exec` for
tools, and the Endpoint a program runs at (a namespace and its addresses)."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from testbed.errors import EnvironmentFailure, NamespaceVanished

if TYPE_CHECKING:
    from pyroute2 import IPRoute

NETNS_DIR = Path("/run/netns")


@dataclass(frozen=True)
class Endpoint:
    """Where a program runs and how others reach it: a node's namespace and addresses."""

    name: str  # the node's name, for messages
    netns: str | None  # None: the namespace of this process
    ipv4: str
    ipv6: str

    def address(self, family: int = 4) -> str:
        return self.ipv4 if family == 4 else self.ipv6


class CommandFailed(EnvironmentFailure):
    def __init__(self, argv: Sequence[str], returncode: int, stderr: str):
        self.argv, self.returncode, self.stderr = list(argv), returncode, stderr
        detail = stderr.strip() or "(it printed nothing)"
        super().__init__(f"{shlex.join(argv)} failed (exit {returncode}): {detail}")


def exists(netns: str) -> bool:
    return (NETNS_DIR / netns).exists()


def require(netns: str | None, during: str = "") -> None:
    """Raise NamespaceVanished when `netns` is gone (a program in it just failed: say why)."""
    if netns and not exists(netns):
        raise NamespaceVanished(netns, during)


@contextmanager
def route(netns: str | None) -> Iterator[IPRoute]:
    """A pyroute2 netlink socket inside `netns` (the current namespace when None)."""
    # imported here, not above: pyroute2 takes seconds to import in the emulated (TCG) VM, and
    # the traffic programs that import this module for `command` never open a socket
    from pyroute2 import IPRoute, NetNS

    require(netns)
    sock = NetNS(netns, flags=0) if netns else IPRoute()
    try:
        yield sock
    finally:
        sock.close()


def command(netns: str | None, argv: Sequence[str]) -> list[str]:
    return ["ip", "netns", "exec", netns, *argv] if netns else list(argv)


def run(netns: str | None, argv: Sequence[str], stdin: str | None = None, check: bool = True,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a program (never through a shell) inside `netns`."""
    full = command(netns, argv)
    result = subprocess.run(full, input=stdin, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        require(netns, f"`{shlex.join(argv)}`")
        raise CommandFailed(full, result.returncode, result.stderr or result.stdout)
    return result


@contextmanager
def serving(netns: str | None, argv: Sequence[str], stdin: bool = False) -> Iterator[subprocess.Popen[str]]:
    """Start a program in `netns` that prints 'ready' once it listens; yield it when it has,
    and kill it (if it still runs) on the way out. With `stdin`, its stdin is a pipe: closing
    it (communicate) is how the caller says "done"."""
    full = command(netns, argv)
    proc = subprocess.Popen(full, stdin=subprocess.PIPE if stdin else None, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            proc.kill()
            code = proc.wait()
            require(netns, f"`{shlex.join(argv)}`")
            raise CommandFailed(full, code, proc.stderr.read() if proc.stderr else "")
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
