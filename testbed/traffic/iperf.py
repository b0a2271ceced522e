"""iperf3, the real binary, between two topology nodes; results from its JSON output."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass

from testbed.errors import WorkloadFailed
from testbed.kernel import netns
from testbed.kernel.netns import Endpoint

IPERF_PORT = 5201  # iperf3's own default


@dataclass(frozen=True)
class IperfResult:
    protocol: str
    seconds: float
    sent_bps: float
    received_bps: float
    lost_percent: float | None = None
    jitter_ms: float | None = None  # RFC 3550 at the end, as iperf3 reports it
    retransmits: int | None = None
    jitter_mean_ms: float | None = None  # the receiver's per-second RFC 3550 values, averaged

    @classmethod
    def from_json(cls, report: dict) -> IperfResult:
        end = report["end"]
        if report["start"]["test_start"]["protocol"] == "TCP":
            return cls("tcp", end["sum_received"]["seconds"], end["sum_sent"]["bits_per_second"],
                       end["sum_received"]["bits_per_second"],
                       retransmits=end["sum_sent"].get("retransmits"))
        total = end["sum"]  # the receiver's view: its loss, jitter and packet counts
        lost = total.get("lost_percent", 0.0)
        sent = end.get("sum_sent", total)["bits_per_second"]
        # the receiver's intervals: the server's (sent back with --get-server-output) or, with -R, ours
        receiver = report if report["start"]["test_start"].get("reverse") else \
            (report.get("server_output_json") or {})
        jitters = [i["sum"]["jitter_ms"] for i in receiver.get("intervals", []) if "jitter_ms" in i["sum"]]
        return cls("udp", total["seconds"], sent, sent * (1 - lost / 100.0), lost, total.get("jitter_ms"),
                   jitter_mean_ms=sum(jitters) / len(jitters) if jitters else None)


class IperfError(WorkloadFailed):
    def __init__(self, message: str, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


# iperf3's own control connection (not the measured flow) failing on a busy machine, as seen
# in the testbed VM: "unable to receive control message: Resource temporarily unavailable"
CONTROL_TROUBLE = ("control message", "control socket", "Resource temporarily unavailable")
ATTEMPTS = 3


def run_iperf(client: Endpoint, server: Endpoint, seconds: float = 5, udp_rate_bps: int | None = None,
              length: int | None = None, reverse: bool = False, port: int = IPERF_PORT) -> IperfResult:
    """One iperf3 test: a one-off server at `server`, the client at `client`.

    `reverse`: the server sends (downlink when the client is inside). UDP when
    `udp_rate_bps` is given (e.g. `-u -b 68.8k -l 172` is a 50 pps VoIP stand-in). A test
    whose control connection fails is run again (at most ATTEMPTS times in all).
    """
    argv = ["iperf3", "-c", server.address(), "-p", str(port), "-t", str(seconds), "-J",
            "--get-server-output"]  # the receiver's per-second figures, when the server receives
    if udp_rate_bps is not None:
        argv += ["-u", "-b", str(udp_rate_bps)]
    if length is not None:
        argv += ["-l", str(length)]
    if reverse:
        argv.append("-R")
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return _once(client, server, argv, seconds, port)
        except IperfError as exc:
            if not exc.retryable or attempt == ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _once(client: Endpoint, server: Endpoint, argv: list[str], seconds: float, port: int) -> IperfResult:
    server_proc = subprocess.Popen(netns.command(server.netns, ["iperf3", "-s", "-1", "-J", "-p", str(port)]),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(50):  # the server needs a moment to listen
            result = subprocess.run(netns.command(client.netns, argv), capture_output=True, text=True,
                                    timeout=seconds + 30)
            report = json.loads(result.stdout) if result.stdout.strip() else {}
            error = report.get("error", result.stderr)
            if "Connection refused" in str(error):
                time.sleep(0.1)
                continue
            break
        if error or result.returncode != 0:
            netns.require(client.netns, "iperf3")
            raise IperfError(f"iperf3 failed: {error}", any(word in str(error) for word in CONTROL_TROUBLE))
        return IperfResult.from_json(report)
    finally:
        server_proc.kill()
        server_proc.wait()
