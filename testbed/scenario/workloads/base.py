"""What every workload is: a spec (its YAML fields, validated by pydantic), the metrics it
reports (name, unit, meaning) and how it runs during one phase of a session.

A workload type is one module in this package with one subclass of WorkloadSpec; the
package finds it (testbed/scenario/workloads/__init__.py). The scenario loader, the
expectation checker, `--json` output, the report and the docs' metric table all read
METRICS from the class: nothing else lists them.
"""

from __future__ import annotations

import contextlib
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from pydantic import Field, field_validator, model_validator

from testbed.kernel.netns import Endpoint
from testbed.profile.types import NAME_PATTERN, FieldError, Strict

if TYPE_CHECKING:
    from testbed.scenario.session import Experiment

Metrics = dict[str, float]
MAX_UDP_PAYLOAD = 65507  # bytes: 65535 - 20 (IPv4 header) - 8 (UDP header)


@dataclass(frozen=True)
class Metric:
    """One figure a workload reports: what expectations check (`voip.mos_cq < 2.5`)."""

    name: str
    unit: str  # "%", "ms", "kbit/s", "0-1" (a share), "MOS 1-5", "B", "count", "s", "0/1", ""
    description: str

    @property
    def label(self) -> str:
        """The name with its unit, as a column header: `loss (%)`."""
        return f"{self.name} ({self.unit})" if self.unit else self.name


@dataclass(frozen=True)
class PhaseContext:
    """What a workload gets to run one phase: the session, the phase's length, and where
    its files go."""

    session: Experiment
    phase: str
    repetition: int  # 0-based
    seconds: float
    directory: Path  # the results directory; files go in its traces/ folder
    keep_traces: bool = True

    def endpoint(self, node: str) -> Endpoint:
        return self.session.endpoint(node)

    def artefact(self, workload: str, suffix: str) -> Path:
        """A file of this workload in this phase: traces/rep0-restricted-voip.npz."""
        folder = self.directory / "traces"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"rep{self.repetition}-{self.phase}-{workload}{suffix}"


class WorkloadSpec(Strict):
    """The fields every workload has. Subclasses add theirs, a `type` Literal, METRICS and run()."""

    type: str
    name: str = Field(pattern=NAME_PATTERN)
    phases: list[str] | None = Field(None, min_length=1,
                                     description="run only in these phases (default: every phase)")

    METRICS: ClassVar[tuple[Metric, ...]] = ()
    OPEN_METRICS: ClassVar[bool] = False  # also metrics it learns as it runs (a program's own)
    NODE_FIELDS: ClassVar[tuple[str, ...]] = ()  # fields that name topology hosts
    RENAMED: ClassVar[dict[str, str]] = {}  # an old YAML key -> the key now (still accepted)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:  # every subclass redefines `name` (its default): check it here
        if not re.fullmatch(NAME_PATTERN, value):
            raise ValueError(f"{value!r}: a workload's name is lower case letters, digits, '-' and '_', "
                             "starting with a letter (it names files and expectations)")
        return value

    @classmethod
    def type_name(cls) -> str | None:
        """The `type:` value of a concrete workload class (None for a base class)."""
        annotation = cls.model_fields["type"].annotation
        if typing.get_origin(annotation) is typing.Literal:
            return typing.get_args(annotation)[0]
        return None

    @classmethod
    def metric(cls, name: str) -> Metric | None:
        return next((m for m in cls.METRICS if m.name == name), None)

    def nodes(self) -> dict[str | tuple, str]:
        """Field (or path below the workload) -> the host it names, for the loader to check
        against the topology."""
        return {field: getattr(self, field) for field in self.NODE_FIELDS}

    def serves(self) -> bool:
        """A server for the phase: started (serving) before its other workloads, stopped after."""
        return False

    def serving(self, ctx: PhaseContext) -> contextlib.AbstractContextManager[dict]:
        """For a workload that serves: started and ready on entry; the dict it yields holds
        its metrics once it has stopped."""
        raise NotImplementedError(f"{type(self).__name__}.serving")

    def services(self) -> dict[str, tuple[str, str]]:
        """Servers this workload starts for a phase: field -> (host, what it binds there).
        Two workloads of one phase may not bind the same thing on the same host."""
        return {}

    def unmeasured(self, metric: str) -> str | None:
        """Why this workload, as configured, never measures one of its metrics (None: it does)."""
        return None

    def input_files(self) -> list[Path]:
        """Files this workload reads (to copy into the testbed VM with the scenario)."""
        return []

    def prepare(self, directory: Path, progress: Callable[[str], None]) -> None:
        """Work done once per run before the first phase (so that it takes no phase's time),
        writing into the results `directory`."""

    def run_phase(self, ctx: PhaseContext) -> Metrics:
        raise NotImplementedError(f"{type(self).__name__}.run_phase")


class TwoNodes(WorkloadSpec):
    """Traffic between two hosts. The client starts it (calls, connects, sends first); the
    server waits for it (listens)."""

    client: str = Field("caller", description="the host that starts the traffic")
    server: str = Field("callee", description="the host that waits for it")

    NODE_FIELDS: ClassVar[tuple[str, ...]] = ("client", "server")

    @model_validator(mode="after")
    def _two_hosts(self) -> TwoNodes:
        if self.client == self.server:
            raise FieldError("server", f"client and server are both {self.client!r}: traffic must cross the "
                             "censor between two hosts")
        return self
