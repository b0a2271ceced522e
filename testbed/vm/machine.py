"""One QEMU process running the testbed image, and the host side of its spec directory.

The spec directory (/run/testbed/vm/ID on the host) is shared into the guest as 9p tag
`spec`; spec.json there tells the guest's init (testbed/vm/guest_init.py) what to mount
and what to run, and the guest writes the command's output and exit code back into it.
Every host directory in `shares` is mounted in the guest at its own path, and so is the
speech cache: voices synthesised and media encoded once serve the host and every VM (in
the emulated VM they take about a minute per run to make).

The disk is opened with snapshot=on, so the cached image never changes. Each QEMU is
registered in /run/testbed/qemu-PID.pid with its start time, so `testbed clean` can stop
it after a kill -9 of its parent without ever signalling a reused pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

from testbed.errors import EnvironmentFailure, ProgramMissing
from testbed.kernel.process import alive, owned_by, start_time
from testbed.speech import cache as speech
from testbed.vm.commands import copy_inputs
from testbed.vm.image import CACHE, ROOT, Image, current_image

STATE_DIR = Path("/run/testbed")
SPEC_ROOT = STATE_DIR / "vm"
SITE = "/opt/testbed/site"  # the image's Python packages (testbed/vm/image.py)
KERNEL_ARGS = ("root=/dev/vda", "rw", "console=ttyS0", "quiet", "loglevel=3", "panic=-1",
               "init=/sbin/testbed-init", "net.ifnames=0", "testbed.spec=1")
STOP_GRACE_S = 5


class VMError(EnvironmentFailure):
    pass


def read_record(pidfile: Path) -> dict:
    try:
        record = json.loads(pidfile.read_text())
        return record if isinstance(record, dict) else {}
    except (OSError, ValueError):
        return {}


def qemu_argv(image: Image, accel: str, spec_dir: Path | None, shares: list[Path], interactive: bool,
              memory_mb: int = 2048) -> list[str]:
    argv = ["qemu-system-x86_64", "-accel", accel, "-m", str(memory_mb), "-smp", "2",
            "-kernel", str(image.kernel), "-initrd", str(image.initrd), "-append", " ".join(KERNEL_ARGS),
            "-drive", f"file={image.disk},format=raw,if=virtio,snapshot=on", "-nic", "none", "-no-reboot"]
    if spec_dir is not None:
        argv += ["-virtfs", f"local,path={spec_dir},mount_tag=spec,security_model=none,id=spec"]
    for k, share in enumerate(shares):
        argv += ["-virtfs", f"local,path={share},mount_tag=s{k},security_model=none,id=s{k}"]
    if accel == "kvm":
        argv += ["-cpu", "host"]
    if interactive:
        return argv + ["-nographic"]
    return argv + ["-display", "none", "-monitor", "none", "-serial", "stdio"]


def guest_env() -> dict[str, str]:
    """The environment of commands in the guest: the project importable from its own path,
    and a cache whose speech directory is the host's (shared at its own path: speech_cache)."""
    return {"PYTHONPATH": f"{ROOT}:{SITE}", "TESTBED_CACHE": str(speech.CACHE.parent)}


def speech_cache(shares: list[Path]) -> list[Path]:
    """The speech cache (testbed/speech/cache.py), as a share unless one of `shares` holds it
    already or it cannot be made (the guest then makes its own, per boot)."""
    directory = speech.CACHE
    if any(directory == s or s in directory.parents for s in shares):
        return []
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return []
    return [directory]


class Machine:
    """A booted VM. `spec` is the guest's spec.json without the shares (added here)."""

    def __init__(self, spec: dict, shares: list[Path], accel: str | None = None, image: Image | None = None,
                 interactive: bool = False, console_log: Path | None = None, owned: bool = True,
                 copies: tuple[Path, ...] = ()) -> None:
        """`owned`: this process stops the VM (a one-shot command); otherwise the VM is kept up
        for a run and only `testbed down` or `testbed clean --all` stops it."""
        self.image = image or current_image()
        if shutil.which("qemu-system-x86_64") is None:
            raise ProgramMissing("qemu-system-x86_64", "qemu-system-x86", "the testbed VM")
        if not self.image.ready:
            raise VMError("the VM image is not built: run `testbed vm build` (or `make test`)")
        accel = accel or probe_accel(self.image)  # before any file exists: the probe may fail
        shares = [*shares, *speech_cache(shares)]
        self.directory = SPEC_ROOT / uuid.uuid4().hex[:12]
        (self.directory / "files").mkdir(parents=True)
        try:
            full = {**spec, "env": {**guest_env(), **spec.get("env", {})},
                    "shares": [{"tag": f"s{k}", "path": str(p)} for k, p in enumerate(shares)],
                    "copies": copy_inputs(self.directory, "command", copies)}
            (self.directory / "spec.json").write_text(json.dumps(full))
            argv = qemu_argv(self.image, accel, self.directory, shares, interactive)
            self._tail: list[str] = []
            if interactive:
                self.proc = subprocess.Popen(argv)
            else:
                out = console_log.open("wb") if console_log else subprocess.PIPE
                self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                             stderr=subprocess.STDOUT, start_new_session=True)
        except BaseException:  # no QEMU: nobody will stop() this machine, so nothing may stay
            shutil.rmtree(self.directory, ignore_errors=True)
            raise
        if not interactive and console_log is None:
            threading.Thread(target=self._read_console, daemon=True).start()
        self.pidfile = STATE_DIR / f"qemu-{self.proc.pid}.pid"
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        owner = os.getpid() if owned else None
        self.pidfile.write_text(json.dumps({
            "pid": self.proc.pid, "started": start_time(self.proc.pid), "spec": str(self.directory),
            "owner": owner, "owner_started": start_time(owner) if owner else None}))

    def _read_console(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            self._tail.append(raw.decode(errors="replace").replace("\r", ""))
            del self._tail[:-40]

    def console_tail(self) -> str:
        return "".join(self._tail[-15:])

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, wait_s: float = 0.0) -> None:
        """End QEMU (given `wait_s` to power off by itself, then asked, then killed) and remove
        its spec directory and pid file."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=wait_s)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.pidfile.unlink(missing_ok=True)
        shutil.rmtree(self.directory, ignore_errors=True)


def probe_accel(image: Image) -> str:
    """KVM where it really boots this kernel, TCG otherwise (probed once, remembered)."""
    forced = os.environ.get("TESTBED_VM_ACCEL")
    if forced in ("kvm", "tcg"):
        return forced
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    verdict = CACHE / f"kvm-{os.uname().release}-{image.directory.name}"
    if verdict.exists():
        return verdict.read_text().strip()
    from testbed.vm.qemu import KVM_PROBE_TIMEOUT_S, run

    try:
        result = "kvm" if run(["true"], accel="kvm", timeout=KVM_PROBE_TIMEOUT_S, quiet=True) == 0 else "tcg"
    except EnvironmentFailure:  # KVM hangs the guest on some hosts and stops it at once on others
        result = "tcg"
    verdict.parent.mkdir(parents=True, exist_ok=True)
    verdict.write_text(result)
    return result


def stop_all(everything: bool = False, owner: int | None = None,
             owner_started: int | None = None) -> list[int]:
    """Kill the VMs this tool started whose owner is gone (with `everything`: every one that
    still runs, also those kept up for a run; with `owner`: only those that process, started at
    `owner_started` when given, started), and drop their files (testbed clean)."""
    killed = []
    for pidfile in sorted(STATE_DIR.glob("qemu-*.pid")) if STATE_DIR.exists() else []:
        record = read_record(pidfile)
        if owner is not None and not owned_by(record.get("owner"), record.get("owner_started"), owner,
                                              owner_started):
            continue
        running = alive(record.get("pid"), record.get("started"))
        owned = record.get("owner") is not None
        if running and not everything and (not owned or alive(record["owner"], record.get("owner_started"))):
            continue  # a live command's VM, or one kept up for a run: not a leftover
        if running:
            os.kill(record["pid"], signal.SIGKILL)
            killed.append(record["pid"])
        if record.get("spec"):
            shutil.rmtree(record["spec"], ignore_errors=True)
        pidfile.unlink(missing_ok=True)
    if owner is None:
        _sweep_orphaned_specs(everything)
    if killed:
        time.sleep(0.2)  # let the kernel reap them before anyone counts processes
    return killed


ORPHAN_AGE_S = 60  # a VM being started writes its pid file within milliseconds of its spec


def _sweep_orphaned_specs(everything: bool) -> None:
    """Remove spec directories no pid file names: a process killed between creating one and
    starting QEMU (only with `everything`, also one that is that young: it may be starting)."""
    if not SPEC_ROOT.exists():
        return
    named = {read_record(p).get("spec") for p in STATE_DIR.glob("qemu-*.pid")}
    for directory in SPEC_ROOT.iterdir():
        with contextlib.suppress(FileNotFoundError):
            old = time.time() - directory.stat().st_mtime > ORPHAN_AGE_S
            if str(directory) not in named and (everything or old):
                shutil.rmtree(directory, ignore_errors=True)
