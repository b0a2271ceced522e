"""Hostile files through the real command: each is refused with exit 2, its file (and line,
where there is one) named, in bounded CPU time and memory, never a traceback.

The bounds: 2 s of CPU and 200 MB of memory per refusal (the issue's budget); a wall-clock
guard of 60 s only catches a hang (a file that never ends, a FIFO that blocks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.cli import ROOT

CPU_S = 2.0
RSS_KB = 200 * 1024
HANG_S = 60
HEAD = "name: x\ntitle: t\nconfidence: guessed\n"


def _bomb() -> str:
    text = HEAD + 'x0: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    previous = "a"
    for name in "bcdefghi":
        text += f"x{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]\n"
        previous = name
    return text + "tags: *i\n"


def _set_profile(file: str) -> str:
    quoted = '"' + file.replace("\0", "\\0") + '"'  # YAML's double quotes read \0 as a NUL
    return HEAD + f"address_sets:\n  s: {{file: {quoted}}}\nclasses: [{{name: a, match: {{dst: '@s'}}, both: {{drop: true}}}}]\n"


def cases(tmp: Path) -> dict[str, tuple[Path, str]]:
    """name -> (profile file, what the error must say)."""
    files: dict[str, tuple[str | bytes, str]] = {
        "alias-bomb": (_bomb(), "alias-bomb.yaml:1: its aliases expand to more than"),
        "nested-brackets": (HEAD + "tags: " + "[" * 20000 + "]" * 20000 + "\n",
                            "nested-brackets.yaml:4: YAML syntax: nesting deeper"),
        "nested-mappings": ("k:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(500)),
                            "nested-mappings.yaml:64: YAML syntax: nesting deeper"),
        "five-megabytes": (HEAD + "description: |\n" + ("  " + "x" * 100 + "\n") * 50000,
                           "five-megabytes.yaml: is 5,150,052 bytes; a YAML file may have at most"),
        "latin-1": (b"name: x\ntitle: caf\xe9\nconfidence: guessed\n", "latin-1.yaml:2: is not UTF-8 text"),
        "nul-byte": (b"name: x\ntitle: t\x00\nconfidence: guessed\n", "nul-byte.yaml:2: contains a NUL byte"),
        "self-alias": (HEAD + "tags: &a [*a]\n", "self-alias.yaml:4: YAML syntax: an alias refers to its own anchor"),
        "binary": (b"\x00\xff" + os.urandom(4096), "binary.yaml:1: is not UTF-8 text"),
        "set-is-dev-zero": (_set_profile("/dev/zero"), "set-is-dev-zero.yaml:5: address_sets.s.file: is not an address list"),
        "set-is-a-fifo": (_set_profile("fifo"), "set-is-a-fifo.yaml:5: address_sets.s.file: is not an address list"),
        "set-nul-in-name": (_set_profile("a\0b"), "set-nul-in-name.yaml:5: address_sets.s.file: a file name cannot hold a NUL"),
        "set-not-utf8": (_set_profile("latin1.txt"), "latin1.txt:2: address_sets.s: is not an address list: line 2 is not UTF-8"),
        "set-is-shadow": (_set_profile("shadow.txt"), "shadow.txt:1: address_sets.s: is not an address list: its first entry"),
        "set-binary": (_set_profile("random.bin"), "random.bin:1: address_sets.s: is not an address list"),
    }
    os.mkfifo(tmp / "fifo")
    (tmp / "latin1.txt").write_bytes(b"10.0.0.0/8\n\xe9\xe9\n")
    (tmp / "shadow.txt").write_text("root:$y$j9T$secret:19000:0:99999:7:::\n")
    (tmp / "random.bin").write_bytes(os.urandom(1 << 16))
    out = {}
    for name, (content, wanted) in files.items():
        path = tmp / f"{name}.yaml"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        out[name] = (path, wanted)
    out["profile-is-a-fifo"] = (tmp / "fifo", "is a FIFO, not a YAML file")
    out["profile-is-dev-zero"] = (Path("/dev/zero"), "/dev/zero: is a device, not a YAML file")
    return out


# The process reports its own peak memory (VmHWM, of its own address space): the kernel's
# ru_maxrss of a child counts the image of the process it was forked from, here pytest's.
PEAK_REPORTER = """
import atexit, runpy, sys
def report():
    peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
    open("peak.txt", "w").write(peak.split()[1])
atexit.register(report)
sys.argv = ["testbed", *sys.argv[1:]]
runpy.run_module("testbed.cli", run_name="__main__")
"""


def measured(argv: list[str], cwd: Path) -> tuple[int, str, float, int]:
    """Exit code, stderr, CPU seconds and peak memory (KB) of one `testbed` command."""
    argv = [sys.executable, "-c", PEAK_REPORTER, *argv]
    (cwd / "peak.txt").unlink(missing_ok=True)
    with open(cwd / "stderr.txt", "wb") as err:
        proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
    guard = threading.Timer(HANG_S, lambda: os.kill(proc.pid, signal.SIGKILL))
    guard.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        guard.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert (cwd / "peak.txt").exists(), (f"`testbed {' '.join(argv[3:])}` ended without reporting (exit "
                                         f"{proc.returncode}: killed after {HANG_S} s, or crashed)")
    peak = int((cwd / "peak.txt").read_text())
    return proc.returncode, (cwd / "stderr.txt").read_text(), usage.ru_utime + usage.ru_stime, peak


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    return cases(tmp_path_factory.mktemp("hostile"))


def _names() -> list[str]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return list(cases(Path(tmp)))


@pytest.mark.parametrize("name", _names())
def test_a_hostile_file_is_refused_fast_and_small(corpus, name: str) -> None:
    path, wanted = corpus[name]
    code, stderr, cpu, rss = measured(["plan", str(path)], path.parent)
    assert code == 2, stderr
    assert "Traceback" not in stderr and wanted in stderr, stderr
    assert cpu < CPU_S, f"{cpu:.2f} s of CPU"
    assert rss < RSS_KB, f"{rss / 1024:.0f} MB"


def test_millions_of_prefixes_are_fine(tmp_path) -> None:
    """A long address list is not hostile: 1,000,000 lines load (streamed)."""
    from testbed.profile.loader import load_profile

    with (tmp_path / "big.txt").open("w") as f:
        for i in range(1_000_000):
            f.write(f"{10 + (i >> 16) % 200}.{(i >> 8) % 256}.{i % 256}.0/24\n")
    (tmp_path / "p.yaml").write_text(_set_profile("big.txt"))
    loaded = load_profile(tmp_path / "p.yaml")
    assert len(loaded.address_sets["s"]) == 1_000_000


def test_the_environment_sets_another_bound(tmp_path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(HEAD + "description: " + "x" * 5000 + "\n")
    env = {**os.environ, "TESTBED_MAX_YAML_BYTES": "1000"}
    result = subprocess.run([sys.executable, "-m", "testbed.cli", "plan", str(path)], capture_output=True,
                            text=True, cwd=ROOT, env=env)
    assert result.returncode == 2 and "at most 1,000" in result.stderr
