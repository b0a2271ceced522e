"""Load scenarios: the same standard as profiles (file, line, field; exit 2), and every
profile a scenario names is loaded and compiled up front, so a bad one stops the run
before anything is built."""

from __future__ import annotations

import difflib
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from testbed.compile.compiler import compile_profile
from testbed.errors import InputError, Problem
from testbed.profile.loader import (
    LoadedProfile,
    load_profile,
    resolve_profile_path,
    resolve_yaml,
)
from testbed.profile.validation import validate_document
from testbed.profile.yamlpos import Path_, dotted, line_of, load_yaml_with_lines
from testbed.scenario.model import Scenario
from testbed.scenario.workloads import CENSOR, TYPES, metrics_of
from testbed.scenario.workloads.command import APP_METRIC
from testbed.topology.model import plan_addresses

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"


@dataclass(frozen=True)
class LoadedScenario:
    scenario: Scenario
    source: Path
    profiles: dict[str, LoadedProfile]
    warnings: tuple[Problem, ...] = ()  # deprecated spellings, located
    lines: dict = field(default_factory=dict, compare=False, repr=False)  # key path -> line

    @property
    def files(self) -> tuple[Path, ...]:
        """Every file the scenario reads: itself, its profiles and their address lists, and the
        files its workloads name (recordings to send as speech)."""
        return (self.source, *(f for p in self.profiles.values() for f in p.files),
                *(f for w in self.scenario.workloads for f in w.input_files()))


def _renamed_keys(data: object, lines: dict[Path_, int], file: str) -> tuple[list[Problem], dict[str, str]]:
    """Accept a workload's old role keys (caller, sender, ...) under their new names, and say so.
    Returns the notes and, for error messages, each renamed field's dotted path -> the old one."""
    notes: list[Problem] = []
    spelled: dict[str, str] = {}
    workloads = data.get("workloads") if isinstance(data, dict) else None
    for index, item in enumerate(workloads if isinstance(workloads, list) else []):
        written = item.get("type") if isinstance(item, dict) else None
        kind = TYPES.get(written) if isinstance(written, str) else None
        for old, new in (kind.RENAMED.items() if kind else ()):
            if old not in item or new in item:
                continue
            item[new] = item.pop(old)
            at: Path_ = ("workloads", index, old)
            for key in [k for k in lines if k[:3] == at]:
                lines[("workloads", index, new, *key[3:])] = lines[key]
            notes.append(Problem(file, line_of(lines, at), dotted(at),
                                 f"deprecated: write {new!r} (the {old!r} key still works, for now)"))
            spelled[dotted(("workloads", index, new))] = dotted(at)
    return notes, spelled


def _as_written(problems: list[Problem], spelled: dict[str, str]) -> list[Problem]:
    """Problems on a renamed key, named with the key the user wrote."""
    out = []
    for p in problems:
        for new, old in spelled.items():
            if p.field == new or p.field.startswith(new + "."):
                p = Problem(p.file, p.line, old + p.field[len(new):], p.message)
        out.append(p)
    return out


def load_scenario(path: str | Path) -> LoadedScenario:
    source = Path(path)
    data, lines = load_yaml_with_lines(source)
    file = str(source)
    warnings, spelled = _renamed_keys(data, lines, file)
    try:
        scenario = validate_document(Scenario, data, lines, file, {"base": source.parent})
    except InputError as exc:
        raise InputError(_as_written(exc.problems, spelled)) from None
    problems: list[Problem] = []

    def problem(at: Path_, message: str) -> None:
        problems.append(Problem(file, line_of(lines, at), dotted(at), message))

    profiles: dict[str, LoadedProfile] = {}
    for name, reference in scenario.profiles.items():
        try:
            target = resolve_profile_path(reference)
            if not target.is_absolute() and not target.exists():
                target = source.parent / target
            profiles[name] = load_profile(target)
            compile_profile(profiles[name])
        except InputError as exc:
            problem(("profiles", name), f"profile {reference!r}: {exc.problems[0]}")
    for index, phase in enumerate(scenario.phases):
        used = [(("phases", index, "profile"), phase.profile)] if phase.profile else []
        used += [(("phases", index, "schedule", k, "profile"), s.profile)
                 for k, s in enumerate(phase.schedule or []) if s.profile]
        for at, name in used:
            if name not in scenario.profiles:
                known = ", ".join(sorted(scenario.profiles)) or "none defined"
                problem(at, f"{name!r} is not in profiles ({known})")
    names = [p.name for p in scenario.phases]
    for index, name in enumerate(names):
        if names.index(name) != index:
            problem(("phases", index, "name"), f"phase name {name!r} is used twice")
    workload_names = [w.name for w in scenario.workloads]
    for index, name in enumerate(workload_names):
        if workload_names.index(name) != index:
            problem(("workloads", index, "name"), f"two workloads are named {name!r}; give each a name")
    hosts = {*scenario.topology.names, "censor"}
    for index, workload in enumerate(scenario.workloads):
        for key, host in workload.nodes().items():
            if host not in hosts:
                known = ", ".join(sorted(hosts))
                problem(("workloads", index, *(key if isinstance(key, tuple) else (key,))),
                        f"no host {host!r} in the topology ({known})")
    if scenario.capture is not None:
        planned = plan_addresses(scenario.topology, "check")
        for k, node in enumerate(scenario.capture.nodes):
            if node not in planned.nodes:
                problem(("capture", "nodes", k), f"no host {node!r} in the topology "
                        f"({', '.join(sorted(planned.nodes))})")
        captured = [n for n in scenario.capture.nodes if n in planned.nodes]
        have = sorted({i.name for n in captured for i in planned.nodes[n].interfaces})
        for k, name in enumerate(scenario.capture.interfaces or []):
            if name not in have:
                problem(("capture", "interfaces", k), f"no interface {name!r} on {', '.join(captured)} "
                        f"(they have: {', '.join(have)})")
    for phase_name in names:
        bound: dict[tuple[str, str], str] = {}
        for index, workload in enumerate(scenario.workloads):
            if phase_name not in (workload.phases or names):
                continue
            for key, service in workload.services().items():
                if service in bound:
                    host, what = service
                    problem(("workloads", index, key), f"{host!r} already runs {what} for workload "
                            f"{bound[service]!r} in phase {phase_name!r}: give another host or phase")
                bound.setdefault(service, workload.name)
    for index, workload in enumerate(scenario.workloads):
        for k, phase_name in enumerate(workload.phases or []):
            if phase_name not in names:
                problem(("workloads", index, "phases", k),
                        f"no phase {phase_name!r} (phases: {', '.join(names)})")
    by_name = {w.name: w for w in scenario.workloads}
    if CENSOR in by_name:
        problem(("workloads", workload_names.index(CENSOR), "name"),
                f"{CENSOR!r} is reserved for the censor's own figures (e.g. '{CENSOR}.apply_seconds < 1')")
    types = {CENSOR: CENSOR, **{w.name: w.type for w in scenario.workloads}}
    for index, expectation in enumerate(scenario.expect):
        workload, metric, _, _ = expectation.parts
        if expectation.phase not in names:
            problem(("expect", index, "phase"),
                    f"no phase {expectation.phase!r} (phases: {', '.join(names)})")
        elif workload in by_name and expectation.phase not in (by_name[workload].phases or names):
            problem(("expect", index, "check"), f"workload {workload!r} does not run in phase "
                    f"{expectation.phase!r} (its phases: {', '.join(by_name[workload].phases or [])})")
        if workload not in types:
            problem(("expect", index, "check"), f"no workload {workload!r} (workloads: {', '.join(by_name)})")
        elif workload in by_name and by_name[workload].OPEN_METRICS and APP_METRIC.match(metric):
            pass  # the program's own metric: known once it has run
        elif metric not in (known := [m.name for m in metrics_of(types[workload])]):
            prefixed = [k for k in known if k.startswith(metric)][:2]
            close = prefixed or difflib.get_close_matches(metric, known, n=1)
            hint = (f" (did you mean {' or '.join(map(repr, close))}?)" if close
                    else f"; known: {', '.join(known)}")
            problem(("expect", index, "check"), f"{types[workload]} has no metric {metric!r}{hint}")
        elif workload in by_name and (reason := by_name[workload].unmeasured(metric)):
            problem(("expect", index, "check"), f"{workload}.{metric} is never measured: {reason}")
    if problems:
        raise InputError(_as_written(problems, spelled))
    return LoadedScenario(scenario, source, profiles, tuple(warnings), lines)


SIGNATURE_DIR = SCENARIO_DIR / "signatures"


def resolve_scenario_path(name_or_path: str) -> Path:
    """A path, a scenario's name, or a catalog profile's name (its signature scenario)."""
    signature = signature_path(name_or_path)
    if not (SCENARIO_DIR / f"{name_or_path}.yaml").exists() and signature.exists():
        return signature
    return resolve_yaml(name_or_path, SCENARIO_DIR, "scenario")


def signature_path(profile_name: str) -> Path:
    return SIGNATURE_DIR / f"{profile_name}.yaml"


def programs(loaded: LoadedScenario) -> list[Problem]:
    """The programs a scenario runs as root (its `command` workloads), each located."""
    found = []
    for index, workload in enumerate(loaded.scenario.workloads):
        if workload.type == "command":
            at: Path_ = ("workloads", index, "run")
            found.append(Problem(str(loaded.source), line_of(loaded.lines, at), dotted(at),
                                 f"runs {shlex.join(workload.run)} as root in {workload.node}"))
    return found


def from_catalog(loaded: LoadedScenario) -> bool:
    """The scenario is one of this project's own (scenarios/), not a file from elsewhere."""
    return SCENARIO_DIR in loaded.source.resolve().parents
