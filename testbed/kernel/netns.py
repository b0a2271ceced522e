"""Reach into a named network namespace: pyroute2 sockets for netlink, `ip netns exec` for
tools, and the Endpoint a program runs at (a namespace and its addresses).

Namespaces are created, and netlink sockets opened in them, by a thread of this process that
enters the namespace (setns(2) and unshare(2) move only the calling thread), not by a forked
process as pyroute2's netns.create and NetNS do: a fork costs about 0.15 s in the emulated
VM, and `up` made six of them. A socket stays in the namespace it was opened in, whichever
thread uses it afterwards.
"""

from __future__ import annotations

import ctypes
import os
import shlex
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from testbed.errors import EnvironmentFailure, NamespaceVanished
from testbed.kernel import forkserver
from testbed.kernel.forkserver import Forked

if TYPE_CHECKING:
    from pyroute2 import IPRoute

NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000
T = TypeVar("T")


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


def _in_thread(work: Callable[[], T]) -> T:
    """`work()` in a thread of its own (which ends with it, and its namespaces with it)."""
    outcome: dict[str, object] = {}

    def body() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=body, name="testbed-netns")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def _libc_call(name: str, *args: object) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if getattr(libc, name)(*args) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{name}: {os.strerror(error)}")


def enter(netns: str) -> None:
    """Move the calling thread into namespace `netns` (setns(2); the whole process when it has
    one thread)."""
    fd = os.open(NETNS_DIR / netns, os.O_RDONLY)
    try:
        _libc_call("setns", fd, CLONE_NEWNET)
    finally:
        os.close(fd)


def inside(netns: str, work: Callable[[], T]) -> T:
    """`work()` run inside namespace `netns` by a thread of this process (no process forked)."""
    require(netns)

    def entered() -> T:
        enter(netns)
        return work()

    return _in_thread(entered)


def write_sysctls(netns: str | None, settings: dict[str, str]) -> None:
    """`sysctl -w` of each setting (net.ipv4.ip_forward: "1"), in the namespace (this one when
    None), without a process: /proc/sys/net shows the namespace of the thread that opens it."""

    def write() -> None:
        for key, value in settings.items():
            try:
                Path("/proc/sys", *key.split(".")).write_text(str(value))
            except OSError as exc:  # as `sysctl -w` would fail, for the callers' rollbacks
                reason = exc.strerror or str(exc)
                raise CommandFailed(["sysctl", "-w", f"{key}={value}"], 255, reason) from exc

    if netns:
        inside(netns, write)
    else:
        write()


def pids(netns: str) -> list[int]:
    """The processes in namespace `netns` (as `ip netns pids`, without running it)."""
    try:
        target = os.stat(NETNS_DIR / netns)
    except FileNotFoundError:
        return []
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                ns = os.stat(f"/proc/{entry.name}/ns/net")
            except OSError:  # gone, or a kernel thread
                continue
            if (ns.st_dev, ns.st_ino) == (target.st_dev, target.st_ino):
                found.append(int(entry.name))
    return found


def create(netns: str) -> None:
    """A new named namespace (/run/netns/NAME, as `ip netns add` makes it)."""
    from pyroute2 import netns as pyroute2_netns

    def unshared() -> None:
        _libc_call("unshare", CLONE_NEWNET)
        pyroute2_netns.attach(netns, "thread-self")  # binds /proc/thread-self/ns/net

    _in_thread(unshared)


@contextmanager
def route(netns: str | None) -> Iterator[IPRoute]:
    """A pyroute2 netlink socket inside `netns` (the current namespace when None)."""
    # imported here, not above: pyroute2 takes seconds to import in the emulated (TCG) VM, and
    # the traffic programs that import this module for `command` never open a socket
    import socket

    from pyroute2 import IPRoute
    from pyroute2.netlink import NETLINK_ROUTE

    if netns:  # the socket made in the namespace; pyroute2 would fork a process to make it
        fd = inside(netns, lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM,
                                                 NETLINK_ROUTE).detach())
        sock = IPRoute(fileno=fd)
    else:
        sock = IPRoute()
    try:
        yield sock
    finally:
        sock.close()


def command(netns: str | None, argv: Sequence[str]) -> list[str]:
    return ["ip", "netns", "exec", netns, *argv] if netns else list(argv)


def _testbed_module(argv: Sequence[str]) -> tuple[str, list[str]] | None:
    """(module, arguments) when `argv` runs one of the testbed's own programs (`python3 -m
    testbed....`): those are forked from the fork server, which imported them already."""
    if len(argv) >= 3 and argv[0] == sys.executable and argv[1] == "-m" and argv[2].startswith("testbed."):
        return argv[2], list(argv[3:])
    return None


def popen(netns: str | None, argv: Sequence[str], stdin: bool = True) -> subprocess.Popen[str] | Forked:
    """A program started in `netns` with text pipes for its streams (stdin one only with
    `stdin`): the testbed's own Python programs forked (forkserver.py), others by `ip netns exec`."""
    module = _testbed_module(argv)
    if module:
        return forkserver.start(netns, module[0], module[1], stdin=stdin)
    return subprocess.Popen(command(netns, argv), stdin=subprocess.PIPE if stdin else None,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _nft_in_process(netns: str | None, argv: Sequence[str],
                    stdin: str | None) -> subprocess.CompletedProcess[str] | None:
    """`nft ...` through libnftables in this process (kernel/nft.py), or None: run the program."""
    from testbed.kernel import nft

    if not nft.handles(argv[1:], stdin):
        return None
    return inside(netns, lambda: nft.run(argv[1:], stdin)) if netns else nft.run(argv[1:], stdin)


def run(netns: str | None, argv: Sequence[str], stdin: str | None = None, check: bool = True,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a program (never through a shell) inside `netns`."""
    full = command(netns, argv)
    done = _nft_in_process(netns, argv, stdin) if argv and argv[0] == "nft" else None
    if done is not None:
        result = subprocess.CompletedProcess(full, done.returncode, done.stdout, done.stderr)
    else:  # a program: forked (the testbed's own) or started, as popen() decides
        proc = popen(netns, argv, stdin=stdin is not None)
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        assert proc.returncode is not None  # communicate waited for it
        result = subprocess.CompletedProcess(full, proc.returncode, out, err)
    if check and result.returncode != 0:
        require(netns, f"`{shlex.join(argv)}`")
        raise CommandFailed(full, result.returncode, result.stderr or result.stdout)
    return result


@contextmanager
def serving(netns: str | None, argv: Sequence[str],
            stdin: bool = False) -> Iterator[subprocess.Popen[str] | Forked]:
    """Start a program in `netns` that prints 'ready' once it listens; yield it when it has,
    and kill it (if it still runs) on the way out. With `stdin`, its stdin is a pipe: closing
    it (communicate) is how the caller says "done"."""
    full = command(netns, argv)
    proc = popen(netns, argv, stdin=stdin)
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
