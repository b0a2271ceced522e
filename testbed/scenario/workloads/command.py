"""`command`: bring your own app. Any program, run in a host for the phase (argv, no shell)."""

from __future__ import annotations

import subprocess
from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints

from testbed.kernel import netns
from testbed.profile.types import Duration
from testbed.scenario.workloads.base import Metric, Metrics, PhaseContext, WorkloadSpec

Argument = Annotated[str, StringConstraints(min_length=1)]  # an empty program name runs nothing
STILL_RUNNING = -1  # the exit code recorded for a program the phase's end had to stop
CANNOT_RUN = 127  # as shells say of a program they cannot start


class Command(WorkloadSpec):
    type: Literal["command"]
    name: str = Field(description="names the workload in expectations and results")
    node: str = Field(description="the host to run it in")
    run: list[Argument] = Field(min_length=1, description="argv; no shell is involved")
    timeout: Duration("1ms") | None = Field(None, description="stop it after this long (default: the phase)")

    NODE_FIELDS: ClassVar[tuple[str, ...]] = ("node",)
    METRICS: ClassVar[tuple[Metric, ...]] = (
        Metric("exit_code", "", f"the program's exit code ({STILL_RUNNING}: still running at the end, "
                                f"stopped; {CANNOT_RUN}: could not start)"),
    )

    def run_phase(self, ctx: PhaseContext) -> Metrics:
        timeout = self.timeout / 1e9 if self.timeout else ctx.seconds
        with ctx.artefact(self.name, ".log").open("w") as out:
            try:
                code = subprocess.run(netns.command(ctx.endpoint(self.node).netns, self.run), stdout=out,
                                      stderr=subprocess.STDOUT, timeout=timeout).returncode
            except subprocess.TimeoutExpired:
                code = STILL_RUNNING
            except OSError as exc:
                out.write(f"cannot run {self.run[0]}: {exc}\n")
                code = CANNOT_RUN
        return {"exit_code": float(code)}
