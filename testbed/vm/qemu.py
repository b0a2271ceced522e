"""Boot the testbed VM, run one command in the shared project tree, stream its output.

The disk is opened with snapshot=on, so the cached image never changes; files the
command writes in the project tree come back through the 9p share. The QEMU process is
always ended: on return, on timeout, on Ctrl-C, and when the guest dies (-no-reboot).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from testbed.vm.image import CACHE, ROOT, Image, current_image

SPEC_DIR = ".testbed-vm"
EXIT_MARK = re.compile(r"TESTBED-EXIT=(\d+)")
PID_DIR = Path("/run/testbed")
KVM_PROBE_TIMEOUT_S = 25


class VMError(RuntimeError):
    pass


def _accel(image: Image) -> str:
    """KVM where it really boots this kernel, TCG otherwise (probed once, remembered)."""
    forced = os.environ.get("TESTBED_VM_ACCEL")
    if forced in ("kvm", "tcg"):
        return forced
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    verdict = CACHE / f"kvm-{os.uname().release}-{image.directory.name}"
    if verdict.exists():
        return verdict.read_text().strip()
    try:
        code = run(["true"], accel="kvm", timeout=KVM_PROBE_TIMEOUT_S, quiet=True, image=image)
        result = "kvm" if code == 0 else "tcg"
    except VMError:
        result = "tcg"
    verdict.parent.mkdir(parents=True, exist_ok=True)
    verdict.write_text(result)
    return result


def qemu_argv(image: Image, accel: str, append: str, interactive: bool, memory_mb: int = 2048) -> list[str]:
    argv = [
        "qemu-system-x86_64", "-accel", accel, "-m", str(memory_mb), "-smp", "2",
        "-kernel", str(image.kernel), "-initrd", str(image.initrd), "-append", append,
        "-drive", f"file={image.disk},format=raw,if=virtio,snapshot=on",
        "-virtfs", f"local,path={ROOT},mount_tag=project,security_model=none,id=project",
        "-nic", "none", "-no-reboot",
    ]
    if accel == "kvm":
        argv += ["-cpu", "host"]
    if interactive:
        return argv + ["-nographic"]
    return argv + ["-display", "none", "-monitor", "none", "-serial", "stdio"]


def _kernel_args(spec: str | None) -> str:
    words = ["root=/dev/vda", "rw", "console=ttyS0", "quiet", "loglevel=3", "panic=-1",
             "init=/sbin/testbed-init", "net.ifnames=0"]
    if spec:
        words.append(f"testbed.spec={spec}")
    return " ".join(words)


def _register(pid: int) -> Path:
    PID_DIR.mkdir(parents=True, exist_ok=True)
    path = PID_DIR / f"qemu-{pid}.pid"
    path.write_text(str(pid))
    return path


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(argv: list[str], cwd: Path | None = None, timeout: float | None = None, accel: str | None = None,
        quiet: bool = False, image: Image | None = None, env: dict[str, str] | None = None) -> int:
    """Run `argv` as root in the VM, in `cwd` (inside the project tree). Returns its exit code."""
    image = image or current_image()
    if not image.ready:
        raise VMError("the VM image is not built: run `testbed vm build` (or `make test`)")
    if shutil.which("qemu-system-x86_64") is None:
        raise VMError("qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)")
    cwd = (cwd or Path.cwd()).resolve()
    try:
        relative = cwd.relative_to(ROOT)
    except ValueError:
        raise VMError(f"{cwd} is outside the project tree {ROOT}, which is all the VM can see") from None
    accel = accel or _accel(image)
    spec_id = uuid.uuid4().hex[:12]
    spec_dir = ROOT / SPEC_DIR / spec_id
    spec_dir.mkdir(parents=True)
    (spec_dir / "spec.json").write_text(json.dumps({"argv": argv, "cwd": str(relative), "env": env or {}}))
    proc = subprocess.Popen(qemu_argv(image, accel, _kernel_args(f"{SPEC_DIR}/{spec_id}"), False),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    pidfile = _register(proc.pid)
    code: list[int] = []
    tail: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            line = raw.decode(errors="replace").replace("\r", "")
            found = EXIT_MARK.search(line)
            if found:
                code.append(int(found[1]))
                continue
            if code:  # after the command: only the kernel powering off
                continue
            tail.append(line)
            del tail[:-40]
            if not quiet:
                sys.stdout.write(line)
                sys.stdout.flush()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while proc.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise VMError(f"the VM command did not finish within {timeout:g} s; the VM was stopped")
            time.sleep(0.05)
        reader.join(timeout=5)
    finally:
        _stop(proc)
        pidfile.unlink(missing_ok=True)
        shutil.rmtree(spec_dir, ignore_errors=True)
        _remove_if_empty(ROOT / SPEC_DIR)
    if not code:
        raise VMError("the VM stopped before the command finished (did the guest crash?); its last output:\n"
                      + "".join(tail[-15:]))
    return code[0]


def _remove_if_empty(path: Path) -> None:
    with contextlib.suppress(OSError):  # not empty: another VM's spec is still there
        path.rmdir()


def shell(accel: str | None = None) -> int:
    """An interactive root shell in the VM, in the project tree (exit or Ctrl-D to leave)."""
    image = current_image()
    if not image.ready:
        raise VMError("the VM image is not built: run `testbed vm build`")
    proc = subprocess.Popen(qemu_argv(image, accel or _accel(image), _kernel_args(None), True))
    pidfile = _register(proc.pid)
    try:
        return proc.wait()
    finally:
        _stop(proc)
        pidfile.unlink(missing_ok=True)


def stop_all() -> list[int]:
    """Kill every VM this tool started that is still running, and drop their spec files
    (for `testbed clean`)."""
    killed = []
    if PID_DIR.exists():
        for pidfile in PID_DIR.glob("qemu-*.pid"):
            pid = int(pidfile.read_text())
            try:
                if "qemu" in Path(f"/proc/{pid}/cmdline").read_text():
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            except (FileNotFoundError, ProcessLookupError):
                pass
            pidfile.unlink(missing_ok=True)
        for state in PID_DIR.glob("vm-runs/*.json"):
            state.unlink(missing_ok=True)
    for spec in (ROOT / SPEC_DIR).glob("*/spec.json"):
        shutil.rmtree(spec.parent, ignore_errors=True)
    _remove_if_empty(ROOT / SPEC_DIR)
    return killed
