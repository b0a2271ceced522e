"""`nft` without a process: libnftables (what the `nft` program itself calls) in this process,
through Debian's binding (python3-nftables).

An `nft` process costs about 0.3 s in the emulated VM and an apply ran five of them (dry run,
load, and two read-backs of two listings), a phase two more for its counters. Here the same
command line runs through libnftables by a thread that has entered the node's namespace
(netns.inside), so the library's netlink socket is opened there, with the same output,
errors and exit status the program would give (the program is a thin shell around it).

How the binding is reached: Debian ships it as python3-nftables (scripts/setup.sh and the VM
image install it). The VM's python3 imports it from its own dist-packages; the virtualenv's
interpreter (which does not see Debian's packages) loads that one module from its file,
nothing else from there. Where neither works (another distribution, no libnftables), or for
a command line this module does not translate, `nft` runs as a program, as before.
"""

from __future__ import annotations

import functools
import importlib.util
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

DEBIAN_BINDING = Path("/usr/lib/python3/dist-packages/nftables/nftables.py")
# `nft` options this module translates (as the program parses them), and the library's
# setting each one turns on
OUTPUT_FLAGS = {"-t": "terse", "-j": "json", "-a": "handle", "-s": "stateless"}
_lock = threading.Lock()  # one libnftables call at a time: its contexts share process state


@functools.cache
def binding() -> ModuleType | None:
    """Debian's `nftables` module, or None where it (or libnftables) is not here."""
    try:
        import nftables  # type: ignore[import-not-found]  # the VM's python3: Debian's own

        module: ModuleType | None = nftables
    except ImportError:
        module = None
        if DEBIAN_BINDING.exists():
            spec = importlib.util.spec_from_file_location("testbed_debian_nftables", DEBIAN_BINDING)
            if spec is not None and spec.loader is not None:
                module = importlib.util.module_from_spec(spec)
                try:
                    spec.loader.exec_module(module)
                except Exception:  # noqa: BLE001 - a broken binding: the program still works
                    module = None
    if module is None:
        return None
    try:
        module.Nftables()  # loads libnftables.so.1
    except OSError:
        return None
    return module


def translate(args: Sequence[str]) -> tuple[list[str], bool, str | None, str | None] | None:
    """`nft ARGS` as (output flags, dry run, file, command), or None when ARGS use anything
    else (then the program runs). `-f -` reads the command from stdin (file "-")."""
    flags: list[str] = []
    dry_run, file = False, None
    rest = list(args)
    while rest and rest[0].startswith("-"):
        option = rest.pop(0)
        if option in OUTPUT_FLAGS:
            flags.append(OUTPUT_FLAGS[option])
        elif option == "-c":
            dry_run = True
        elif option == "-f" and rest:
            file = rest.pop(0)
        else:
            return None
    if file is not None:
        return (flags, dry_run, file, None) if not rest else None
    return (flags, dry_run, None, " ".join(rest)) if rest else None


def handles(args: Sequence[str], stdin: str | None) -> bool:
    """Whether `nft ARGS` runs here (the binding is here and the command line translates)."""
    parsed = translate(args)
    return binding() is not None and parsed is not None and (parsed[2] != "-" or stdin is not None)


def run(args: Sequence[str], stdin: str | None) -> subprocess.CompletedProcess[str]:
    """`nft ARGS` (with `stdin`) in this thread's namespace, as handles() allows: the program's
    exit status (0 or 1), output and errors."""
    module, parsed = binding(), translate(args)
    assert module is not None and parsed is not None, "nft.run without nft.handles"
    flags, dry_run, file, command = parsed
    if file == "-":
        command, file = stdin, None
    with _lock:
        ctx = module.Nftables()
        for flag in flags:
            getattr(ctx, f"set_{flag}_output")(True)
        ctx.set_dry_run(dry_run)
        rc, out, err = ctx.cmd_from_file(file) if file is not None else ctx.cmd(command)
        del ctx  # frees the context, and its netlink socket, in this namespace's thread
    return subprocess.CompletedProcess(["nft", *args], 0 if rc == 0 else 1, out, err)
