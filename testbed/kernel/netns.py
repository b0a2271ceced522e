"""Reach into a named network namespace: pyroute2 sockets for netlink, `ip netns exec` for tools."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from pyroute2 import IPRoute, NetNS

NETNS_DIR = Path("/run/netns")


class CommandFailed(RuntimeError):
    def __init__(self, argv: Sequence[str], returncode: int, stderr: str):
        self.argv, self.returncode, self.stderr = list(argv), returncode, stderr
        super().__init__(f"{' '.join(argv)} failed ({returncode}): {stderr.strip()}")


def exists(netns: str) -> bool:
    return (NETNS_DIR / netns).exists()


@contextmanager
def route(netns: str | None) -> Iterator[IPRoute]:
    """A pyroute2 netlink socket inside `netns` (the current namespace when None)."""
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
            raise CommandFailed(full, proc.wait(), proc.stderr.read() if proc.stderr else "")
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
