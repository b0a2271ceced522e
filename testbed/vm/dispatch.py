"""Where a command runs, decided once for every command: here, or in the testbed VM.

`--where auto` stays on this kernel when it has every feature the command needs and goes
to the VM otherwise; inside the VM every choice means "here". A command that goes to the
VM is run there with its argv unchanged: the VM sees the project tree, the current
directory and the output directories at their own paths (testbed/vm/shares.py), and
anything derived from the machine (parallelism, say) is worked out where it runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

GUEST_TESTBED = ["python3", "-m", "testbed.cli"]
Progress = Callable[[str], None]


def in_vm() -> bool:
    return bool(os.environ.get("TESTBED_IN_VM"))


def choose(where: str, features: Callable[[], Iterable[str]], progress: Progress = lambda _: None) -> str:
    """"local" or "vm" for `--where` (auto, local, vm); `features` lists what the work needs."""
    if in_vm() or where == "local":
        return "local"
    if where == "vm":
        return "vm"
    # here, not above: pyroute2 (which the probe needs) is 0.3 s of every command's start on
    # this host and 5 s in the emulated VM, and most commands never probe
    from testbed.kernel import probe

    missing = probe.missing_features(tuple(sorted(set(features()))))
    if missing:
        progress(f"this kernel lacks {', '.join(missing)}: running in the testbed VM")
        return "vm"
    return "local"


def forward(argv: Sequence[str], inputs: Iterable[Path] = (), outputs: Iterable[Path] = (),
            progress: Progress = lambda _: None, env: dict[str, str] | None = None) -> int:
    """Run `testbed ARGV` in the warm VM when one is up and sees the working directory and
    `outputs`, else in a fresh testbed VM (building the image if needed); its exit code.
    `env`: variables for the command, beside the terminal's (a file to hand results back in)."""
    return run_command([*GUEST_TESTBED, *argv], inputs, outputs, progress, env)


def run_command(argv: list[str], inputs: Iterable[Path] = (), outputs: Iterable[Path] = (),
                progress: Progress = lambda _: None, env: dict[str, str] | None = None,
                timeout: float | None = None, fresh: bool = False) -> int:
    """Run ARGV in the guest: the warm VM's (unless `fresh`) or a VM of its own."""
    from testbed.vm import image, qemu, warm

    outputs = [Path(o) for o in outputs]
    vm = None if fresh else warm.find()
    if vm is not None and vm.serves(Path.cwd(), outputs):
        progress("running in the warm testbed VM (`testbed vm down` stops it)")
        for output in outputs:
            output.mkdir(parents=True, exist_ok=True)
        return vm.run(argv, tuple(inputs), env=env, timeout=timeout)
    if vm is not None:
        progress("the warm testbed VM does not share this directory or the outputs: booting a VM for "
                 "this command (`testbed vm up --share DIR` shares more)")
    image.build(progress=progress)
    return qemu.run(argv, inputs=inputs, outputs=outputs, env={**qemu.isatty_env(), **(env or {})},
                    timeout=timeout)


def run_in_vm(run_id: str) -> bool:
    """Run `run_id` lives in a testbed VM (seen from the host)."""
    if in_vm():
        return False
    from testbed.vm.session import VMSession

    return VMSession.find(run_id) is not None


def forward_to_run(run_id: str, argv: Sequence[str], inputs: Iterable[Path] = ()) -> int:
    """Run `testbed ARGV` in the VM that run `run_id` lives in; its exit code."""
    from testbed.vm.session import VMSession

    session = VMSession.find(run_id)
    if session is None:
        raise RuntimeError(f"run {run_id} does not live in a VM")
    return session.run([*GUEST_TESTBED, *argv], tuple(inputs))


def run_in_new_vm(run_id: str, argv: Sequence[str], inputs: Iterable[Path] = (),
                  progress: Progress = lambda _: None) -> int:
    """Boot a VM for run `run_id` and run `testbed ARGV` in it (a command that brings the run up:
    up, apply). When it succeeds the VM stays up for the run; when it fails, or this process
    is stopped, the VM goes."""
    from testbed.vm.session import VMSession

    session = VMSession.start(run_id, progress=progress)
    try:
        code = session.run([*GUEST_TESTBED, *argv], tuple(inputs))
    except BaseException:
        session.stop()
        raise
    if code != 0:
        session.stop()
    else:
        session.release()
    return code
