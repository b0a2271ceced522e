"""`testbed vm build|run|up|down|shell`: the testbed VM (a stock Debian kernel with netem,
under QEMU), and the warm VM that serves every command that goes to the VM."""

from __future__ import annotations

import time
from pathlib import Path

import click

from testbed.cli.common import Seconds, bad, need_root
from testbed.cli.output import Output


@click.group("vm", short_help="The testbed VM (netem on a stock kernel).")
def vm() -> None:
    """The testbed VM: a stock Debian kernel with netem, under QEMU."""


@vm.command("build", short_help="Build (or reuse) the VM image.")
@click.option("--force", is_flag=True, help="Rebuild even if the image is cached.")
def build(force: bool) -> None:
    """Build the VM image (Debian bookworm, stock kernel), or reuse the cached one."""
    from testbed.vm import image

    out = Output()
    started = time.monotonic()
    built = image.build(progress=out.progress, force=force)
    out.line(f"VM image ready: {built.directory} ({time.monotonic() - started:.1f} s)")


@vm.command("run", short_help="Run a command as root in the VM.",
            context_settings={"ignore_unknown_options": True})
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED, metavar="-- COMMAND...")
@click.option("--timeout", type=Seconds(7 * 24 * 3600), default=None,
              help="Stop the command (and a VM of its own) after this many seconds.")
@click.option("--fresh", is_flag=True, help="Boot a VM for this command even when the warm VM is up.")
def run(command: tuple[str, ...], timeout: float | None, fresh: bool) -> int:
    """Run a command as root in the VM, in the current directory: in the warm VM when
    `testbed vm up` keeps one that shares it, else in a VM booted for it. The VM sees the
    project tree and the current directory at their own paths; files written there come back.

    \b
        testbed vm run -- uname -r
        testbed vm run -- testbed try ru-2025-calls-degraded
    """
    from testbed.vm import dispatch, qemu

    if not command:
        raise bad("give a command after --, e.g. testbed vm run -- uname -r")
    need_root()
    return dispatch.run_command(list(command), progress=Output().progress, env=qemu.isatty_env(),
                                timeout=timeout, fresh=fresh)


@vm.command("up", short_help="Keep a VM warm for the commands that go to the VM.")
@click.option("--share", "extra", multiple=True, type=click.Path(file_okay=False, path_type=Path),
              metavar="DIR", help="Also share this directory (repeat for more), e.g. where results go.")
def up(extra: tuple[Path, ...]) -> None:
    """Boot the testbed VM and keep it up: every later command that goes to the VM (testbed run,
    try, calls, vm run ...) runs in it at once instead of booting one. It shares the project
    tree, the current directory and each --share DIR; a command working elsewhere boots its
    own VM. `testbed vm down` stops it; `testbed clean` leaves it."""
    from testbed.vm import shares, warm

    for directory in extra:
        if not shares.shareable(directory.resolve()):
            raise bad(f"--share {directory}: the VM cannot mount it at its own path (it would hide the "
                      "guest's own system directories); choose a directory such as ./results")
    need_root()
    out = Output()
    for directory in extra:
        directory.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    vm, booted = warm.up(extra, progress=out.progress)
    shared = ", ".join(str(p) for p in vm.shared)
    if booted:
        took = time.monotonic() - started
        out.line(f"the warm testbed VM is up (pid {vm.pid}, {took:.1f} s), sharing {shared}")
    else:
        out.line(f"the warm testbed VM was up already (pid {vm.pid}), sharing {shared}")
        missing = [str(d) for d in extra if not vm.serves(d)]
        if missing:
            out.note(f"it does not share {', '.join(missing)}: `testbed vm down`, then `vm up` with them")


@vm.command("down", short_help="Stop the warm VM.")
def down() -> None:
    """Stop the warm VM of `testbed vm up` (commands still running in it are stopped first)."""
    from testbed.vm import warm

    need_root()
    out = Output()
    out.line("the warm testbed VM stopped" if warm.down() else "no warm testbed VM was up")


@vm.command("shell", short_help="A root shell in the VM.")
def shell() -> int:
    """An interactive root shell in the VM (`exit`, or Ctrl-A X, to leave)."""
    from testbed.vm import image, qemu

    need_root()
    image.build(progress=Output().progress)
    return qemu.shell()


COMMANDS = [vm]
