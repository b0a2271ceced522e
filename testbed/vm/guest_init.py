#!/usr/bin/python3
"""PID 1 of the testbed VM (installed as /sbin/testbed-init; runs in the guest only, on
Debian's own Python, so it imports nothing of the testbed).

The host shares a spec directory (9p tag `spec`, mounted at /mnt/spec) holding spec.json:

    {"mode": "run" | "agent" | "shell",
     "shares": [{"tag": "s0", "path": "/work/main"}, ...],   mounted at their own paths
     "env": {...}, and for "run": "argv", "cwd", "copies": [{"from": "files/0", "to": "/etc/x.yaml"}]}

run:   run argv once; its output goes to stdout/stderr in the spec directory, its exit code
       to `exit`; a file `interrupt` holding a signal number is passed on to it.
agent: serve commands for a VM that stays up (a VM-hosted run): the host writes
       inbox/N.json (the same keys as "run"); we write N.stdout, N.stderr and N.exit.
       A command ["poweroff"] ends the loop.
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


def execute(command: dict, env: dict, stem: str) -> int:
    """Run one command; output to STEM.stdout/.stderr; STEM.interrupt (a signal number) stops it."""
    place_copies(command, os.path.dirname(stem))
    cwd = command.get("cwd", "/")
    os.makedirs(cwd, exist_ok=True)
    with open(stem + ".stdout", "wb", buffering=0) as out, open(stem + ".stderr", "wb", buffering=0) as err:
        try:
            child = subprocess.Popen(command["argv"], cwd=cwd, env=dict(env, **command.get("env", {})),
                                     stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        except OSError as exc:
            err.write(f"testbed vm: cannot run {command['argv'][0]}: {exc}\n".encode())
            return 127
        signalled = False
        while child.poll() is None:
            if not signalled and os.path.exists(stem + ".interrupt"):
                with open(stem + ".interrupt") as f:
                    child.send_signal(int(f.read().strip() or signal.SIGINT))
                signalled = True
            time.sleep(POLL_S)
        return child.returncode


def finish(stem: str, code: int) -> None:
    with open(stem + ".exit.tmp", "w") as f:
        f.write(str(code))
    os.rename(stem + ".exit.tmp", stem + ".exit")


def agent(env: dict) -> int:
    inbox = os.path.join(SPEC, "inbox")
    os.makedirs(inbox, exist_ok=True)
    with open(os.path.join(SPEC, "ready"), "w") as f:
        f.write("ready\n")
    while True:
        names = sorted(n for n in os.listdir(inbox) if n.endswith(".json"))
        if not names:
            time.sleep(POLL_S)
            continue
        for name in names:
            path = os.path.join(inbox, name)
            with open(path) as f:
                command = json.load(f)
            os.unlink(path)
            if command["argv"] == ["poweroff"]:
                return 0
            stem = os.path.join(SPEC, name[:-5])
            finish(stem, execute(command, env, stem))


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
        finish(stem, code)
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
