"""Build the testbed VM image: Debian bookworm with its stock kernel (which has netem).

The apt packages are the ones scripts/setup.sh installs on a host (one list for the host,
the image and Vagrant). Python dependencies are installed into the image from the host
with `pip --target` (cp311 wheels; the guest runs Debian's Python 3.11); the project
itself is not in the image: the working tree is shared into the guest at run time.

Cached under $TESTBED_CACHE (default /var/cache/testbed)/vm/KEY, where KEY hashes
everything the image is built from, so a changed recipe builds anew and an unchanged one
is reused.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from testbed.errors import EnvironmentFailure, NeedsRoot, ProgramMissing

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("TESTBED_CACHE", "/var/cache/testbed"))
SUITE = "bookworm"
MIRROR = os.environ.get("TESTBED_DEBIAN_MIRROR", "http://deb.debian.org/debian")
IMAGE_SIZE = "3G"
EXTRA_PACKAGES = ["linux-image-amd64", "kmod", "python3", "udev", "util-linux", "iproute2"]
RECIPE = [Path(__file__), Path(__file__).with_name("guest_init.py"), ROOT / "scripts" / "setup.sh",
          ROOT / "pyproject.toml"]
Progress = Callable[[str], None]


class ImageBuildError(EnvironmentFailure):
    pass


@dataclass(frozen=True)
class Image:
    directory: Path

    @property
    def kernel(self) -> Path:
        return self.directory / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.directory / "initrd.img"

    @property
    def disk(self) -> Path:
        return self.directory / "disk.img"

    @property
    def ready(self) -> bool:
        return (self.directory / "ready").exists()


def image_key() -> str:
    digest = hashlib.sha256(SUITE.encode())
    for path in RECIPE:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def current_image() -> Image:
    return Image(CACHE / "vm" / image_key())


def apt_packages() -> list[str]:
    out = subprocess.run([str(ROOT / "scripts" / "setup.sh"), "--print-apt-packages"],
                         capture_output=True, text=True, check=True).stdout.split()
    return sorted(set(out + EXTRA_PACKAGES) - {"python3-venv"})


# Pure-Python packages published only as source: built here and copied in without the
# platform pins (which accept wheels only). The speech scorers (the `speech` extra) stay on
# the host: audio is scored there, not on the VM's emulated CPU (testbed/scenario/finish.py).
SOURCE_ONLY = ("opuslib",)


def python_requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    dev = [r for r in project["optional-dependencies"]["dev"] if not r.startswith("ruff")]
    return project["dependencies"] + dev


def _source_only(requirement: str) -> bool:
    return requirement.split(">")[0].split("=")[0].split("<")[0].strip() in SOURCE_ONLY


def _run(argv: list[str], log: Path, what: str, **kwargs) -> None:
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(argv)}\n")
        out.flush()
        result = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, **kwargs)
    if result.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-15:])
        raise ImageBuildError(f"{what} failed (exit {result.returncode}); the end of {log}:\n{tail}")


BUILD_TOOLS = {"debootstrap": "debootstrap", "mkfs.ext4": "e2fsprogs",
               "qemu-system-x86_64": "qemu-system-x86"}


def _require_tools() -> None:
    for tool, package in BUILD_TOOLS.items():
        if shutil.which(tool) is None:
            raise ProgramMissing(tool, package, "building the testbed VM image")


def build(progress: Progress = lambda _: None, force: bool = False) -> Image:
    """Build (or reuse) the image; returns it ready to boot."""
    image = current_image()
    if image.ready and not force:
        progress(f"image {image.directory.name} is cached")
        return image
    _require_tools()
    if os.geteuid() != 0:
        raise NeedsRoot("building the VM image", "debootstrap")
    work = image.directory.with_name(image.directory.name + ".building")
    shutil.rmtree(work, ignore_errors=True)
    rootfs = work / "rootfs"
    rootfs.mkdir(parents=True)
    log = work / "build.log"
    started = time.monotonic()

    packages = apt_packages()
    progress(f"debootstrap {SUITE} with {len(packages)} packages (a few minutes the first time)")
    _run(["debootstrap", "--variant=minbase", f"--include={','.join(packages)}", SUITE, str(rootfs),
          MIRROR], log, "debootstrap")

    progress("installing Python packages into the image")
    site = rootfs / "opt" / "testbed" / "site"
    wheels = [r for r in python_requirements() if not _source_only(r)]
    _run(["python3", "-m", "pip", "install", "--quiet", "--target", str(site), "--python-version", "3.11",
          # manylinux2014 only: newer manylinux_2_28 wheels (numpy's among them) use instructions
          # QEMU's emulated CPU lacks (Illegal instruction under TCG); aiortc then gets av 14, pylibsrtp 0.12
          "--implementation", "cp", "--platform", "manylinux2014_x86_64", "--only-binary=:all:", *wheels],
         log, "pip install")
    _run(["python3", "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
          *(r for r in python_requirements() if _source_only(r))], log, "pip install (pure Python sources)")

    progress("installing the guest init and tools")
    init = rootfs / "sbin" / "testbed-init"
    shutil.copy(Path(__file__).with_name("guest_init.py"), init)
    init.chmod(0o755)
    for name, module in (("testbed", "testbed.cli"), ("pytest", "pytest")):
        wrapper = rootfs / "usr" / "local" / "bin" / name
        wrapper.write_text(f"#!/bin/sh\nexec python3 -m {module} \"$@\"\n")
        wrapper.chmod(0o755)
    (rootfs / "etc" / "hostname").write_text("testbed\n")
    (rootfs / "etc" / "fstab").write_text("/dev/vda / ext4 rw 0 1\n")
    for name in ("vmlinuz", "initrd.img"):
        candidates = sorted((rootfs / "boot").glob(f"{name}-*"))
        if not candidates:
            raise ImageBuildError(f"no {name} in the image's /boot (see {log})")
        shutil.copy(candidates[-1], work / name)

    progress(f"making the {IMAGE_SIZE} ext4 disk")
    _run(["mkfs.ext4", "-q", "-F", "-L", "testbed", "-d", str(rootfs), str(work / "disk.img"), IMAGE_SIZE],
         log, "mkfs.ext4")
    shutil.rmtree(rootfs)
    (work / "ready").write_text(f"built in {time.monotonic() - started:.0f} s\n")
    shutil.rmtree(image.directory, ignore_errors=True)
    work.rename(image.directory)
    _prune_old(image)
    progress(f"image {image.directory.name} built in {time.monotonic() - started:.0f} s")
    return image


def _prune_old(keep: Image) -> None:
    """Images of older recipes only take disk space."""
    for other in (CACHE / "vm").glob("*"):
        if other.is_dir() and other != keep.directory and not other.name.endswith(".building"):
            shutil.rmtree(other, ignore_errors=True)
