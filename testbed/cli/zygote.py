"""The guest's command server: `python3 -m testbed.cli` commands, forked from one process that
has imported the testbed already (in the emulated VM, those imports take seconds per command).

The agent of a VM that stays up (testbed/vm/guest_init.py) starts it once per boot and writes
one JSON line per command to its standard input: {"stem", "args", "cwd", "env"}. For each,
a child is forked that runs the command as `python3 -m testbed.cli ARGS` would (its output to
STEM.stdout and STEM.stderr, its working directory and environment its own); this process
passes STEM.interrupt on to it, writes STEM.exit when it ends, and on SIGTERM (the VM powers
off) stops the children still running. It writes nothing to its own standard output.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import sys
import time

from testbed.vm.guest_init import finish  # the agent's: one way to write STEM.exit

POLL_S = 0.05
READY_ENV = "TESTBED_ZYGOTE_READY"  # a file written once the imports are done
# what most commands need, imported before any command comes (the rest loads on demand)
PRELOAD = ("testbed.cli.app", "testbed.cli.experiments", "testbed.cli.censor", "testbed.cli.topology",
           "testbed.scenario.runner", "testbed.scenario.model", "testbed.compile.compiler",
           "testbed.kernel.apply", "testbed.topology.build", "testbed.traffic.calls", "pyroute2", "numpy",
           # the traffic programs, which commands fork from a copy of this process (kernel/forkserver.py)
           "testbed.traffic.rtp_worker", "testbed.traffic.chat", "testbed.traffic.https",
           "testbed.traffic.download", "testbed.traffic.probe", "testbed.traffic.signalling",
           "testbed.traffic.webrtc_peer")
TRAFFIC_COMMANDS = ("run", "try", "calls", "matrix")  # the commands whose workloads run programs


def _child(request: dict) -> None:
    """In the forked child: become the command (never returns: SystemExit ends the process
    as the command's own interpreter would end, atexit handlers and threads included)."""
    for signum in (signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    stdin = os.open(os.devnull, os.O_RDONLY)
    os.dup2(stdin, 0)
    for fd, suffix in ((1, ".stdout"), (2, ".stderr")):
        os.dup2(os.open(request["stem"] + suffix, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
    os.makedirs(request["cwd"], exist_ok=True)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["testbed", *request["args"]]
    if request["args"][:1] and request["args"][0] in TRAFFIC_COMMANDS:
        from testbed.kernel import forkserver

        forkserver.prestart()  # a fork of this process, its imports done: no interpreter to start
    from testbed.cli.app import main

    main(request["args"])
    raise SystemExit(0)


def serve() -> None:
    for name in PRELOAD:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    with contextlib.suppress(Exception):
        from testbed.kernel import nft

        nft.binding()  # libnftables loaded once (about 1 s here), for every command's nft
    ready = os.environ.get(READY_ENV)
    if ready:  # `testbed vm up` waits for it: the first command should not wait for the imports
        with open(ready, "w") as f:
            f.write("ready\n")
    children: dict[int, tuple[str, bool]] = {}  # pid: (stem, interrupted)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    pending = b""
    while not stopping:
        ready, _, _ = select.select([0], [], [], POLL_S)
        if ready:
            chunk = os.read(0, 65536)
            if not chunk:
                break  # the agent is gone
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    _child(request)
                children[pid] = (request["stem"], False)
        for pid, (stem, interrupted) in list(children.items()):
            if not interrupted and os.path.exists(stem + ".interrupt"):
                with open(stem + ".interrupt") as f, contextlib.suppress(ProcessLookupError):
                    os.kill(pid, int(f.read().strip() or signal.SIGINT))
                children[pid] = (stem, True)
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                finish(stem, os.waitstatus_to_exitcode(status))
                del children[pid]
    _stop(children)


def _stop(children: dict[int, tuple[str, bool]]) -> None:
    """At poweroff: the commands still running are asked to end, then killed."""
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while children and time.monotonic() < deadline:
        for pid in [p for p in children if os.waitpid(p, os.WNOHANG)[0]]:
            del children[pid]
        time.sleep(POLL_S)
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    serve()
