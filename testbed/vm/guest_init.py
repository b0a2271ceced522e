#!/usr/bin/python3
"""PID 1 of the testbed VM (installed as /sbin/testbed-init; runs in the guest only).

Mounts the basics and the project share, runs the command described by the spec file
named on the kernel command line (`testbed.spec=DIR`, relative to the share), prints
`TESTBED-EXIT=<code>` on the console and powers off. Without a spec it starts a shell.
"""

import json
import os
import subprocess
import sys

SHARE = "/mnt/project"


def sh(*argv: str) -> None:
    subprocess.run(argv, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def setup() -> None:
    sh("mount", "-t", "proc", "proc", "/proc")
    sh("mount", "-t", "sysfs", "sys", "/sys")
    sh("mount", "-t", "devtmpfs", "dev", "/dev")
    os.makedirs("/dev/pts", exist_ok=True)
    sh("mount", "-t", "devpts", "devpts", "/dev/pts")
    for path in ("/run", "/tmp", "/var/tmp"):
        sh("mount", "-t", "tmpfs", "tmpfs", path)
    os.makedirs("/run/netns", exist_ok=True)
    sh("hostname", "testbed")
    sh("ip", "link", "set", "lo", "up")
    sh("modprobe", "9pnet_virtio")
    os.makedirs(SHARE, exist_ok=True)
    sh("mount", "-t", "9p", "-o", "trans=virtio,version=9p2000.L,msize=262144,cache=none",
       "project", SHARE)


def spec_dir() -> str | None:
    with open("/proc/cmdline") as cmdline:
        for word in cmdline.read().split():
            if word.startswith("testbed.spec="):
                return os.path.join(SHARE, word.split("=", 1)[1])
    return None


def agent(directory: str, env: dict) -> int:
    """Serve commands for a VM that stays up (a VM-hosted run): the host writes
    inbox/N.json ({"argv", "cwd"}); we write N.out (output as it comes) and N.exit.
    A command named "poweroff" ends the loop."""
    import time

    inbox = os.path.join(directory, "inbox")
    os.makedirs(inbox, exist_ok=True)
    with open(os.path.join(directory, "ready"), "w") as f:
        f.write("ready\n")
    while True:
        names = sorted(n for n in os.listdir(inbox) if n.endswith(".json"))
        if not names:
            time.sleep(0.05)
            continue
        for name in names:
            path = os.path.join(inbox, name)
            with open(path) as f:
                command = json.load(f)
            os.unlink(path)
            stem = os.path.join(directory, name[:-5])
            if command["argv"] == ["poweroff"]:
                return 0
            with open(stem + ".out", "wb", buffering=0) as out:
                try:
                    code = subprocess.call(command["argv"], cwd=os.path.join(SHARE, command.get("cwd", ".")),
                                           env=dict(env, **command.get("env", {})), stdout=out, stderr=out,
                                           stdin=subprocess.DEVNULL)
                except OSError as exc:
                    out.write(f"cannot run {command['argv'][0]}: {exc}\n".encode())
                    code = 127
            with open(stem + ".exit.tmp", "w") as f:
                f.write(str(code))
            os.rename(stem + ".exit.tmp", stem + ".exit")


def run_once(spec: dict, env: dict) -> int:
    try:
        return subprocess.call(spec["argv"], cwd=os.path.join(SHARE, spec.get("cwd", ".")), env=env)
    except OSError as exc:
        print(f"testbed vm: cannot run {spec['argv'][0]}: {exc}", flush=True)
        return 127


def main() -> None:
    setup()
    env = dict(os.environ, PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               HOME="/root", PYTHONPATH=f"{SHARE}:/opt/testbed/site", PYTHONDONTWRITEBYTECODE="1",
               TESTBED_IN_VM="1", TERM=os.environ.get("TERM", "linux"))
    directory = spec_dir()
    if directory is None:
        print("testbed VM shell: the project is in /mnt/project; `exit` powers the VM off", flush=True)
        code = subprocess.call(["setsid", "-c", "/bin/bash", "-l"], cwd=SHARE, env=env)
    else:
        with open(os.path.join(directory, "spec.json")) as f:
            spec = json.load(f)
        env.update(spec.get("env", {}))
        code = agent(directory, env) if spec.get("agent") else run_once(spec, env)
        with open(os.path.join(directory, "exit"), "w") as f:
            f.write(str(code))
    sys.stdout.flush()
    print(f"\nTESTBED-EXIT={code}", flush=True)
    os.sync()
    sh("umount", SHARE)
    power_off()


def power_off() -> None:
    """reboot(2) with RB_POWER_OFF: the minimal image has no poweroff program."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.sync()
    libc.reboot(0x4321FEDC)


if __name__ == "__main__":
    main()
