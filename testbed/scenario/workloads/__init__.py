"""The workload types, found by looking: every module of this package that defines a
concrete WorkloadSpec subclass (one with a `type: Literal[...]`) adds a type. Adding a
workload is adding a module; see docs/ARCHITECTURE.md for a worked example.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Annotated, Union

from pydantic import Field

from testbed.scenario.workloads.base import Metric, Metrics, PhaseContext, TwoNodes, WorkloadSpec

CENSOR = "censor"  # expectations on the censor itself: `censor.apply_seconds < 1`
CENSOR_METRICS = (
    Metric("apply_seconds", "s", "time to load the phase's profile into the kernel (or clear it)"),
)

__all__ = ["CENSOR", "CENSOR_METRICS", "TYPES", "Metric", "Metrics", "PhaseContext", "TwoNodes", "Workload",
           "WorkloadSpec", "metrics_of"]


def _discover() -> dict[str, type[WorkloadSpec]]:
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base" and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    found: dict[str, type[WorkloadSpec]] = {}
    pending = list(WorkloadSpec.__subclasses__())
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        name = cls.type_name()
        if name is not None:
            if name in found:
                raise TypeError(f"two workload classes say type {name!r}: {found[name]} and {cls}")
            found[name] = cls
    return dict(sorted(found.items()))


TYPES: dict[str, type[WorkloadSpec]] = _discover()

# the scenario model's `workloads:` items: pydantic picks the class by `type`
Workload = Annotated[Union[tuple(TYPES.values())], Field(discriminator="type")]  # noqa: UP007


def metrics_of(type_name: str) -> tuple[Metric, ...]:
    """The metrics of a workload type, or of the censor."""
    if type_name == CENSOR:
        return CENSOR_METRICS
    return TYPES[type_name].METRICS
