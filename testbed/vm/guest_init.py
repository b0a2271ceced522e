#!/usr/bin/python3
"""PID 1 of the testbed VM (installed as /sbin/testbed-init; runs in the guest only, on
Debian's own Python, so it imports nothing of the testbed).

The host shares a spec directory (9p tag `spec`, mounted at /mnt/spec) holding spec.json:

    {"mode": "run" | "agent" | "shell",
     "shares": [{"tag": "s0", "path": "/work/main"}, ...],   mounted at their own paths
     "env": {...}, and for "run": "argv", "cwd", "copies": [{"from": "files/0", "to": "/etc/x.yaml"}]}

run:   run argv once; its output goes to stdout/stderr in the spec directory, its exit code
       to `exit`; a file `interrupt` holding a signal number is passed on to it.
agent: serve commands for a VM that stays up (a VM-hosted run, or the warm VM of `testbed
       vm up`): the host writes inbox/N.json (the same keys as "run"); we write N.stdout,
       N.stderr and N.exit, and pass N.interrupt on. Commands run side by side. A command
       ["poweroff"] ends the loop (and any command still running).
shell: an interactive shell on the console.
Then it powers the VM off.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

SPEC = "/mnt/spec"
POLL_S = 0.05


def sh(*argv: str) -> None:
    subprocess.run(argv, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def mount_9p(tag: str, path: str) -> None:
    os.makedirs(path, exist_ok=True)
    sh("mount", "-t", "9p", "-o", "trans=virtio,version=9p2000.L,msize=262144,cache=none", tag, path)


def setup() -> dict:
    sh("mount", "-t", "proc", "proc", "/proc")
    sh("mount", "-t", "sysfs", "sys", "/sys")
    sh("mount", "-t", "devtmpfs", "dev", "/dev")
    os.makedirs("/dev/pts", exist_ok=True)
    sh("mount", "-t", "devpts", "devpts", "/dev/pts")
    for path in ("/run", "/tmp", "/var/tmp"):
        sh("mount", "-t", "tmpfs", "tmpfs", path)
    os.makedirs("/run/netns", exist_ok=True)
    os.makedirs("/tmp/home", exist_ok=True)
    sh("hostname", "testbed")
    sh("ip", "link", "set", "lo", "up")
    sh("modprobe", "9pnet_virtio")
    mount_9p("spec", SPEC)
    with open(os.path.join(SPEC, "spec.json")) as f:
        spec = json.load(f)
    for share in sorted(spec.get("shares", []), key=lambda s: len(s["path"])):
        mount_9p(share["tag"], share["path"])
    return spec


def place_copies(command: dict, base: str) -> None:
    """Input files the host could not share, put at their own paths."""
    for copy in command.get("copies", []):
        os.makedirs(os.path.dirname(copy["to"]), exist_ok=True)
        shutil.copyfile(os.path.join(base, copy["from"]), copy["to"])


class Command:
    """One command running: output to STEM.stdout/.stderr; STEM.interrupt (a signal number)
    passes that signal on to it; STEM.exit is written when it ends (finish)."""

    def __init__(self, command: dict, env: dict, stem: str) -> None:
        self.stem = stem
        self.signalled = False
        self.child = None
        self.code = None
        place_copies(command, os.path.dirname(stem))
        cwd = command.get("cwd", "/")
        os.makedirs(cwd, exist_ok=True)
        env = dict(env, **command.get("env", {}))
        with open(stem + ".stdout", "wb", buffering=0) as out, \
                open(stem + ".stderr", "wb", buffering=0) as err:
            try:
                self.child = subprocess.Popen(command["argv"], cwd=cwd, env=env, stdout=out, stderr=err,
                                              stdin=subprocess.DEVNULL)
            except OSError as exc:
                err.write(f"testbed vm: cannot run {command['argv'][0]}: {exc}\n".encode())
                self.code = 127

    def poll(self):
        """Its exit code once it has ended (and STEM.exit is written), else None."""
        if self.code is None:
            if not self.signalled and os.path.exists(self.stem + ".interrupt"):
                with open(self.stem + ".interrupt") as f:
                    self.child.send_signal(int(f.read().strip() or signal.SIGINT))
                self.signalled = True
            self.code = self.child.poll()
            if self.code is None:
                return None
        finish(self.stem, self.code)
        return self.code


def execute(command: dict, env: dict, stem: str) -> int:
    """Run one command to its end; its exit code (STEM.exit written)."""
    running = Command(command, env, stem)
    while True:
        code = running.poll()
        if code is not None:
            return code
        time.sleep(POLL_S)


def finish(stem: str, code: int) -> None:
    with open(stem + ".exit.tmp", "w") as f:
        f.write(str(code))
    os.rename(stem + ".exit.tmp", stem + ".exit")


GUEST_TESTBED = ["python3", "-m", "testbed.cli"]


class Zygote:
    """The command server (testbed/cli/zygote.py): `python3 -m testbed.cli` commands forked
    from a process that imported the testbed once per boot, instead of importing it each
    (seconds per command in the emulated VM). It writes their exit files itself."""

    def __init__(self, env: dict) -> None:
        self.delegated = set()
        ready = os.path.join(SPEC, "zygote.ready")  # written once its imports are done
        try:
            self.proc = subprocess.Popen([*GUEST_TESTBED[:2], "testbed.cli.zygote"], cwd="/",
                                         env=dict(env, TESTBED_ZYGOTE_READY=ready),
                                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        except OSError:
            self.proc = None

    def takes(self, command: dict) -> bool:
        return self.proc is not None and self.proc.poll() is None and command["argv"][:3] == GUEST_TESTBED

    def submit(self, command: dict, env: dict, stem: str) -> None:
        place_copies(command, os.path.dirname(stem))
        request = {"stem": stem, "args": command["argv"][3:], "cwd": command.get("cwd", "/"),
                   "env": dict(env, **command.get("env", {}))}
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        self.proc.stdin.flush()
        self.delegated.add(stem)

    def poll(self) -> None:
        """Forget the commands that ended; if the server died, end those it left."""
        self.delegated = {s for s in self.delegated if not os.path.exists(s + ".exit")}
        if self.proc is not None and self.proc.poll() is not None:
            for stem in self.delegated:
                with open(stem + ".stderr", "ab") as err:
                    err.write(b"testbed vm: the guest's command server stopped\n")
                finish(stem, 125)
            self.delegated = set()
            self.proc = None


def agent(env: dict) -> int:
    """Serve the inbox until a poweroff command: several commands may run at once (a VM kept
    warm serves every command of this machine that goes to the VM)."""
    inbox = os.path.join(SPEC, "inbox")
    os.makedirs(inbox, exist_ok=True)
    zygote = Zygote(env)
    with open(os.path.join(SPEC, "ready"), "w") as f:
        f.write("ready\n")
    running = {}
    while True:
        for name in sorted(n for n in os.listdir(inbox) if n.endswith(".json")):
            path = os.path.join(inbox, name)
            with open(path) as f:
                command = json.load(f)
            os.unlink(path)
            if command["argv"] == ["poweroff"]:
                stop([*running.values(), zygote])
                return 0
            stem = os.path.join(SPEC, name[:-5])
            try:
                if zygote.takes(command):
                    zygote.submit(command, env, stem)
                else:
                    running[stem] = Command(command, env, stem)
            except Exception as exc:  # noqa: BLE001 - PID 1 must not die of one command
                with open(stem + ".stderr", "ab") as err:
                    err.write(f"testbed vm: cannot start the command: {exc!r}\n".encode())
                finish(stem, 125)
        for stem in [stem for stem, command in running.items() if command.poll() is not None]:
            del running[stem]
        zygote.poll()
        time.sleep(POLL_S)


def stop(commands) -> None:
    """Commands still running at poweroff (and the command server, which stops its own):
    asked to end, then killed (their host side is gone)."""
    children = [getattr(c, "child", None) or getattr(c, "proc", None) for c in commands]
    alive = [child for child in children if child is not None and child.poll() is None]
    for child in alive:
        child.terminate()
    deadline = time.monotonic() + 6
    for child in alive:
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()


def main() -> None:
    spec = setup()
    env = {**os.environ, "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "HOME": "/tmp/home", "PYTHONDONTWRITEBYTECODE": "1", "TESTBED_IN_VM": "1",
           "TERM": os.environ.get("TERM", "linux"), **spec.get("env", {})}  # the host's settings win
    mode = spec.get("mode", "run")
    if mode == "shell":
        print("testbed VM shell: `exit` powers the VM off", flush=True)
        code = subprocess.call(["setsid", "-c", "/bin/bash", "-l"], cwd=spec.get("cwd", "/"), env=env)
    elif mode == "agent":
        code = agent(env)
    else:
        stem = os.path.join(SPEC, "command")
        code = execute(spec, env, stem)
    sys.stdout.flush()
    print(f"\nTESTBED-EXIT={code}", flush=True)
    os.sync()
    power_off()


def power_off() -> None:
    """reboot(2) with RB_POWER_OFF: the minimal image has no poweroff program."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.sync()
    libc.reboot(0x4321FEDC)


if __name__ == "__main__":
    main()
