"""Packet captures for a phase (a scenario's `capture:`): tcpdump on each chosen host's
interfaces from the moment the phase's profile is on until its workloads end, one pcap per
host and interface in the results' captures/ folder (to open in Wireshark), each capped
at `packets` packets of `snaplen` bytes. captures.json lists them with their counts."""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from testbed.errors import EnvironmentFailure, ProgramMissing
from testbed.kernel import netns
from testbed.report import results
from testbed.report.captures import CAPTURES_FILE
from testbed.scenario.model import Capture
from testbed.topology.model import TopologyState

CAPTURES_DIR = "captures"
READY_S = 10.0  # tcpdump says "listening on" once it captures
STOP_S = 5.0


@dataclass
class _Tcpdump:
    node: str
    interface: str
    path: Path
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    listening: threading.Event = field(default_factory=threading.Event)
    reader: threading.Thread | None = None

    def read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip())
            if "listening on" in line:  # "tcpdump: listening on in0, link-type ..."
                self.listening.set()
        self.listening.set()  # it ended: nobody waits any longer

    def packets(self) -> int | None:
        """What tcpdump says it wrote ("N packets captured")."""
        found = next((re.match(r"(\d+) packets? captured", x) for x in self.lines
                      if re.match(r"\d+ packets? captured", x)), None)
        return int(found[1]) if found else None


def interfaces(state: TopologyState, capture: Capture) -> list[tuple[str, str]]:
    """(host, interface) pairs the capture covers (of a live topology, or one planned)."""
    return [(node, iface.name) for node in capture.nodes for iface in state.nodes[node].interfaces
            if capture.interfaces is None or iface.name in capture.interfaces]


@contextlib.contextmanager
def capturing(state: TopologyState, capture: Capture | None, directory: Path, repetition: int,
              phase: str) -> Iterator[None]:
    """Capture for the `with` block (nothing when `capture` is None)."""
    if capture is None:
        yield
        return
    if shutil.which("tcpdump") is None:
        raise ProgramMissing("tcpdump", "tcpdump", "packet captures")
    folder = directory / CAPTURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    running: list[_Tcpdump] = []
    try:
        for node, interface in interfaces(state, capture):
            path = folder / f"rep{repetition}-{phase}-{node}-{interface}.pcap"
            # -Z root: tcpdump would open the file as its own user, which cannot write here;
            # --immediate-mode: else packets wait in the kernel's ring for a block to fill or time
            # out (about a second), and those of a phase's last moments were lost at SIGINT
            argv = ["tcpdump", "-i", interface, "-n", "-U", "--immediate-mode", "-Z", "root", "-s",
                    str(capture.effective_snaplen(reads=False)), "-c", str(capture.packets), "-w", str(path)]
            process = subprocess.Popen(netns.command(state.nodes[node].netns, argv),
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            dump = _Tcpdump(node, interface, path, process)
            dump.reader = threading.Thread(target=dump.read, daemon=True, name=f"tcpdump-{node}-{interface}")
            dump.reader.start()
            running.append(dump)
        for dump in running:
            if not dump.listening.wait(READY_S) or dump.process.poll() is not None:
                raise EnvironmentFailure(f"tcpdump on {dump.node} {dump.interface} did not start: "
                                         f"{' '.join(dump.lines[-3:]) or 'it said nothing'}")
        yield
    finally:
        for dump in running:
            if dump.process.poll() is None:
                dump.process.send_signal(signal.SIGINT)  # it writes what it holds and counts
        for dump in running:
            try:
                dump.process.wait(STOP_S)
            except subprocess.TimeoutExpired:
                dump.process.kill()
                dump.process.wait()
            if dump.reader is not None:
                dump.reader.join(STOP_S)  # its last words: how many packets it wrote
        _record(directory, repetition, phase, running)


def _record(directory: Path, repetition: int, phase: str, running: list[_Tcpdump]) -> None:
    results.append_rows(directory / CAPTURES_FILE, [
        {"repetition": repetition, "phase": phase, "node": d.node, "interface": d.interface,
         "file": str(d.path.relative_to(directory)), "packets": d.packets()}
        for d in running if d.path.exists()])
