"""The testbed's own Python programs (traffic workers, servers, peers), started in a topology
node by a fork of a process that has imported them already, not by a new interpreter.

A new `python3 -m testbed.traffic.rtp_worker` spends its first 2-3 s importing (numpy most)
in the emulated VM, and a phase of five calls and chat starts eight of them at once: 10-15 s
before its first packet. Here one server process per testbed command imports each program's
module once, and forks a child per program: the child enters the node's namespace (setns),
takes the caller's pipes as its standard streams and runs the module as `python3 -m` would.

Why not multiprocessing's forkserver: its children are Process objects without standard
streams, and every program here speaks over stdin/stdout (with a plain `python3 -m` it still
runs by hand, as its docstring says); the callers keep subprocess.Popen's interface.

Protocol: the command holds one end of a SOCK_SEQPACKET pair; each request is one message
(JSON: module, arguments, namespace) carrying four descriptors: the child's stdin, stdout
and stderr, and a status pipe on which the server writes the child's pid, then its wait
status when it exits. The server exits when the command's end closes (the command ended,
however it ended); children it forked run on in their namespaces, where `down` and
`testbed clean` find them as they found the programs started by `ip netns exec`.
"""

from __future__ import annotations

import array
import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

from testbed.errors import EnvironmentFailure

MAX_REQUEST = 1 << 20  # a request carries the caller's environment
ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}  # no BLAS threads in a process that forks


class Forked:
    """A program forked by the server: the subset of subprocess.Popen the callers use (text
    pipes, poll, wait, kill, terminate, communicate)."""

    def __init__(self, args: list[str], pid: int, status: int, stdin, stdout, stderr) -> None:
        self.args, self.pid, self._status = args, pid, status
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.returncode: int | None = None
        self._read: dict[str, list[str]] = {}
        self._readers: list[threading.Thread] = []

    def _collect(self, block: bool, timeout: float | None = None) -> int | None:
        if self.returncode is None:
            ready, _, _ = select.select([self._status], [], [], None if block else 0) if timeout is None \
                else select.select([self._status], [], [], timeout)
            if ready:
                text = os.read(self._status, 64).decode().strip()
                os.close(self._status)
                self.returncode = os.waitstatus_to_exitcode(int(text)) if text else -signal.SIGKILL
        return self.returncode

    def poll(self) -> int | None:
        return self._collect(block=False)

    def wait(self, timeout: float | None = None) -> int:
        code = self._collect(block=True, timeout=timeout)
        if code is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return code

    def send_signal(self, number: int) -> None:
        if self.poll() is None:
            # it may have ended, its status not yet written: as Popen, nothing to signal then
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, number)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def communicate(self, input: str | None = None,
                    timeout: float | None = None) -> tuple[str | None, str | None]:
        """As Popen.communicate: stdin written and closed, stdout and stderr read to their end,
        the program waited for; TimeoutExpired when `timeout` passes first (call it again)."""
        if self.stdin is not None and not self.stdin.closed:
            try:
                if input:
                    self.stdin.write(input)
                self.stdin.close()
            except BrokenPipeError:
                pass
        if not self._readers:
            for name in ("stdout", "stderr"):
                stream = getattr(self, name)
                if stream is not None:
                    self._read[name] = []
                    reader = threading.Thread(target=self._drain, args=(stream, self._read[name]),
                                              daemon=True)
                    reader.start()
                    self._readers.append(reader)
        deadline = None if timeout is None else time.monotonic() + timeout
        for reader in self._readers:
            reader.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if reader.is_alive():
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
        self.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        out = "".join(self._read["stdout"]) if "stdout" in self._read else None
        err = "".join(self._read["stderr"]) if "stderr" in self._read else None
        return out, err

    @staticmethod
    def _drain(stream, into: list[str]) -> None:
        with stream:
            into.append(stream.read())

    def __del__(self) -> None:  # a status pipe nobody read (the program was left running)
        if self.returncode is None:
            with contextlib.suppress(OSError):
                os.close(self._status)




class _Client:
    """This command's end: the server started (or forked) on first use, one request at a time."""

    def __init__(self, fork: bool = False) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        if fork:  # this process has imported what its programs need: the server is a copy of it
            pid = os.fork()
            if pid == 0:
                ours.close()
                try:
                    serve(theirs)
                finally:
                    os._exit(0)
            self.process: subprocess.Popen | _ServerCopy = _ServerCopy(pid)
        else:
            argv = [sys.executable, "-m", "testbed.kernel.forkserver", str(theirs.fileno())]
            self.process = subprocess.Popen(argv, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                                            env={**os.environ, **ENV})
        theirs.close()
        self.socket, self.lock = ours, threading.Lock()

    def start(self, netns: str | None, module: str, args: Sequence[str], stdin: bool) -> Forked:
        child_in = os.pipe() if stdin else None
        child_out, child_err, status = os.pipe(), os.pipe(), os.pipe()
        given = [child_in[0] if child_in else os.open(os.devnull, os.O_RDONLY), child_out[1], child_err[1],
                 status[1]]
        request = json.dumps({"module": module, "args": list(args), "netns": netns, "cwd": os.getcwd(),
                              "env": dict(os.environ)}).encode()
        try:
            with self.lock:
                rights = (socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", given))
                self.socket.sendmsg([request], [rights])
        finally:
            for fd in given:
                os.close(fd)
        pid = int(_read_line(status[0]) or 0)
        argv = [sys.executable, "-m", module, *args]
        stdin_file = os.fdopen(child_in[1], "w") if child_in else None
        forked = Forked(argv, pid, status[0], stdin_file, os.fdopen(child_out[0]), os.fdopen(child_err[0]))
        if not pid:  # the server could not fork
            forked.returncode = 1
        return forked


def _read_line(fd: int) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 1)
        if not chunk:
            break
        data += chunk
    return data.decode().strip()


_client: _Client | None = None
_client_lock = threading.Lock()


class _ServerCopy:
    """The server when it was forked from this process: a child to poll, as a Popen is."""

    def __init__(self, pid: int) -> None:
        self.pid, self.returncode = pid, None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


def prestart() -> None:
    """Fork the server now, from this process as it is, when it has one thread (a fork of a
    process with threads may inherit a lock another thread held): the testbed's command
    server in the VM calls it, its imports done, for commands that run traffic."""
    global _client
    with _client_lock:
        if _client is None and threading.active_count() == 1:
            _client = _Client(fork=True)


def start(netns: str | None, module: str, args: Sequence[str], stdin: bool = True) -> Forked:
    """`python3 -m MODULE ARGS` in namespace `netns` (None: this one), forked from the server."""
    try:
        return _current().start(netns, module, args, stdin)
    except OSError:  # the server died (killed by hand, out of memory): start another, once
        _forget()
    try:
        return _current().start(netns, module, args, stdin)
    except OSError as exc:
        _forget()
        raise EnvironmentFailure(f"the testbed's fork server could not start {module}: {exc}") from exc


def _current() -> _Client:
    global _client
    with _client_lock:
        if _client is None or _client.process.poll() is not None:
            _client = _Client()
        return _client


def _forget() -> None:
    global _client
    with _client_lock:
        _client = None


# ---------------------------------------------------------------- the server (its own process)


def _child(request: dict, fds: list[int]) -> None:
    """In the forked child: enter the namespace, take the streams, run the module; never returns."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as a program started anew
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        os.closerange(3, 65536)  # the server's socket, pidfds, these requests' descriptors
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process's own streams
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", closefd=False, buffering=1)  # noqa: SIM115
        os.chdir(request["cwd"])  # the caller's, as a program started by it would have
        os.environ.clear()
        os.environ.update(request["env"])
        if request["netns"]:
            from testbed.kernel.netns import enter

            enter(request["netns"])
        import runpy
        import warnings

        # imported already (that is the point): runpy warns that it runs a second copy as __main__
        warnings.filterwarnings("ignore", "'.*' found in sys.modules after import of package", RuntimeWarning)
        sys.argv = [request["module"], *request["args"]]
        try:
            runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if exc.code is not None and not isinstance(exc.code, int):
                print(exc.code, file=sys.stderr)
    except KeyboardInterrupt:  # as the interpreter ends on one: the traceback, then killed by SIGINT
        import traceback

        traceback.print_exc()
        code = -signal.SIGINT
    except BaseException:  # noqa: BLE001 - as the interpreter would: the traceback, exit 1
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        if code == -signal.SIGINT:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        os._exit(code)


def _fork(request: dict, fds: list[int]) -> tuple[int, int]:
    """A child for `request`; its (pid, pidfd). The module is imported here first, once, so
    every later child of it starts at once."""
    with contextlib.suppress(BaseException):  # the child imports it again and says why
        __import__(request["module"])
    pid = os.fork()
    if pid == 0:
        _child(request, fds)
    os.write(fds[3], f"{pid}\n".encode())
    return pid, os.pidfd_open(pid)


def _receive(control: socket.socket) -> tuple[dict, list[int]] | None:
    fds = array.array("i")
    message, ancillary, _, _ = control.recvmsg(MAX_REQUEST, socket.CMSG_SPACE(4 * fds.itemsize))
    if not message:
        return None  # the command ended
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    return json.loads(message), list(fds)


def serve(control: socket.socket) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the command and its programs
    waiting: dict[int, tuple[int, int]] = {}  # pidfd -> (pid, status pipe)
    poller = select.poll()
    poller.register(control, select.POLLIN)
    while True:
        for fd, _ in poller.poll():
            if fd == control.fileno():
                received = _receive(control)
                if received is None:
                    return
                request, fds = received
                pid, pidfd = _fork(request, fds)
                waiting[pidfd] = (pid, os.dup(fds[3]))
                poller.register(pidfd, select.POLLIN)
                for given in fds:
                    os.close(given)
            else:  # a child ended: its wait status to whoever started it
                pid, status_fd = waiting.pop(fd)
                poller.unregister(fd)
                os.close(fd)
                _, status = os.waitpid(pid, 0)
                with contextlib.suppress(BrokenPipeError):  # nobody waits for it any more
                    os.write(status_fd, f"{status}\n".encode())
                os.close(status_fd)


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])))
