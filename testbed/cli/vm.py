"""`testbed vm build|run|shell`: the testbed VM (a stock Debian kernel with netem, under QEMU)."""

from __future__ import annotations

import time

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
              help="Stop the VM after this many seconds.")
def run(command: tuple[str, ...], timeout: float | None) -> int:
    """Run a command as root in the VM, in the current directory. The VM sees the project tree
    and the current directory at their own paths; files written there come back.

    \b
        testbed vm run -- uname -r
        testbed vm run -- testbed try ru-2025-calls-degraded
    """
    from testbed.vm import image, qemu

    if not command:
        raise bad("give a command after --, e.g. testbed vm run -- uname -r")
    need_root()
    image.build(progress=Output().progress)
    return qemu.run(list(command), timeout=timeout, env=qemu.isatty_env())


@vm.command("shell", short_help="A root shell in the VM.")
def shell() -> int:
    """An interactive root shell in the VM (`exit`, or Ctrl-A X, to leave)."""
    from testbed.vm import image, qemu

    need_root()
    image.build(progress=Output().progress)
    return qemu.shell()


COMMANDS = [vm]
