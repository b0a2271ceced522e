"""What the testbed VM sees of this machine: host directories shared into the guest (9p)
at their own absolute paths, so a command forwarded into the VM runs with its argv
unchanged, in the same working directory, reading and writing the same paths.

- The project tree, the working directory and every output directory are shared.
- An input file outside those (a profile in /etc, say) is copied into the guest at its
  own path instead: reading it needs no share, and nothing else of its directory shows.
- A directory that is, or holds, a directory the guest system needs (/, /usr, /tmp ...)
  cannot be mounted over it; the working directory is then not shared (the command still
  runs there, in the guest's own copy), and an output there is refused with a reason.
Pure: no I/O beyond resolving paths.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from testbed.errors import InputError

# the guest system's own trees: a share must not cover any part of them
GUEST_TREES = tuple(Path(p) for p in (
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/opt/testbed", "/proc", "/run", "/sbin",
    "/sys", "/usr", "/var/lib", "/var/cache", "/var/log", "/mnt/spec"))
# scratch directories the guest uses (tmpfs): a share may sit below them, not on them
GUEST_SCRATCH = tuple(Path(p) for p in ("/tmp", "/var/tmp"))
MAX_COPIED_BYTES = 64 << 20  # inputs copied into the guest: profiles, scenarios, address lists


def shareable(path: Path) -> bool:
    """A directory can be mounted at its own path in the guest without hiding the guest's system."""
    path = Path(path)

    def covers(directory: Path) -> bool:  # `path` is `directory` or holds it
        return path == directory or path in directory.parents

    return (path != Path("/") and not any(covers(d) or d in path.parents for d in GUEST_TREES)
            and not any(covers(d) for d in GUEST_SCRATCH))


def _under(path: Path, directories: Iterable[Path]) -> bool:
    return any(path == d or d in path.parents for d in directories)


def minimal(directories: Iterable[Path]) -> list[Path]:
    """The directories, without those inside another one (mounting the outer one shows them)."""
    found = sorted({Path(d) for d in directories}, key=lambda p: (len(p.parts), str(p)))
    kept: list[Path] = []
    for directory in found:
        if not _under(directory, kept):
            kept.append(directory)
    return kept


@dataclass(frozen=True)
class GuestView:
    shares: tuple[Path, ...]  # host directories mounted at the same path in the guest
    copies: tuple[Path, ...]  # host files copied to the same path in the guest
    cwd: Path


def plan(project: Path, cwd: Path, inputs: Iterable[Path] = (), outputs: Iterable[Path] = ()) -> GuestView:
    """What to share and what to copy for a command run in `cwd` that reads `inputs` and
    writes into the directories `outputs` (all resolved to absolute paths)."""
    cwd = cwd.resolve()
    wanted = [project.resolve()] + ([cwd] if shareable(cwd) else [])
    for output in outputs:
        directory = Path(output).resolve()
        if not shareable(directory):
            raise InputError.single(f"{output}: the testbed VM cannot write there (it would hide the guest's "
                                    f"own {directory}); choose a directory such as ./results")
        wanted.append(directory)
    shares = minimal(wanted)
    copies = sorted({Path(p).resolve() for p in inputs if not _under(Path(p).resolve(), shares)})
    return GuestView(tuple(shares), tuple(copies), cwd)


def extend(view: GuestView, cwd: Path, inputs: Iterable[Path]) -> GuestView:
    """A later command in a VM that is already up (its shares fixed at boot): what to copy."""
    copies = sorted({Path(p).resolve() for p in inputs if not _under(Path(p).resolve(), view.shares)})
    return GuestView(view.shares, tuple(copies), cwd.resolve())
