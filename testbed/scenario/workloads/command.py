"""`command`: bring your own app. Any program, run in a host for the phase (argv, no shell).

A server (`background: true`) starts before the phase's other workloads and is ready before
they start (`ready`: a port it listens on, or a line it prints), and is stopped after them.
Placeholders in argv name what the scenario knows: `{callee.ipv4}`, `{callee.ipv6}`,
`{results}` (the folder its files go to), `{phase}`, `{seconds}`, `{repetition}`, and
`{here}` (the scenario's directory: an app beside it). The last JSON object a
program prints on stdout becomes its metrics: `{"loss_pct": 3.2}` is `myapp.loss_pct`, for
expectations and reports. Its stdout and stderr are kept in the results' traces/ folder.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import string
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints, ValidationInfo, field_validator, model_validator

from testbed.errors import WorkloadFailed
from testbed.kernel import netns, process
from testbed.profile.types import Duration, FieldError, Strict
from testbed.scenario.workloads.base import Metric, Metrics, PhaseContext, WorkloadSpec

Argument = Annotated[str, StringConstraints(min_length=1)]  # an empty program name runs nothing
STILL_RUNNING = -1  # the exit code recorded for a program the phase's end had to stop
CANNOT_RUN = 127  # as shells say of a program they cannot start
HOST_FIELDS = ("ipv4", "ipv6")  # {HOST.ipv4}
PHASE_FIELDS = ("results", "phase", "seconds", "repetition")  # {results}
HERE = "{here}"  # the scenario's directory, filled in as the scenario loads
APP_METRIC = re.compile(r"^[a-z][a-z0-9_]{0,62}$")  # what an expectation can name
STOP_GRACE_S = 2.0  # a server asked to stop (SIGTERM) has this long before it is killed
POLL_S = 0.05


class Ready(Strict):
    """When a server is ready: it listens on a port, or it printed a line holding some text."""

    port: int | None = Field(None, ge=1, le=65535, description="a TCP or UDP port it listens on")
    stdout: Annotated[str, StringConstraints(min_length=1)] | None = Field(
        None, description="text a line of its stdout holds once it is ready")
    timeout: Duration("10ms") = Field(10_000_000_000, description="how long to wait for it")

    @model_validator(mode="after")
    def _one(self) -> Ready:
        if (self.port is None) == (self.stdout is None):
            raise ValueError("give port or stdout (one of them)")
        return self


def placeholders(argument: str) -> list[str]:
    """The placeholders of one argument (`{callee.ipv4}`), or ValueError for a stray brace."""
    return [name for _, name, _, _ in string.Formatter().parse(argument) if name is not None]


def fill(argument: str, values: dict[str, str]) -> str:
    """The argument with its placeholders replaced ({{ and }} are literal braces)."""
    return "".join(text + (values[name] if name is not None else "")
                   for text, name, _, _ in string.Formatter().parse(argument))


def app_metrics(stdout: str) -> Metrics:
    """The numbers of the last JSON object a program printed on a line of its own."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if not (line.startswith("{") and line.endswith("}")):
            continue
        try:
            found = json.loads(line)
        except ValueError:
            continue
        if isinstance(found, dict):
            return {key: float(value) for key, value in found.items()
                    if APP_METRIC.match(key) and key != "exit_code" and isinstance(value, int | float)
                    and math.isfinite(value)}
    return {}


class _Running:
    """A started program: its stdout read as it comes (kept whole, and written to its log)."""

    def __init__(self, argv: list[str], log, errors) -> None:
        self.lines: list[str] = []
        self.changed = threading.Condition()
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors, text=True,
                                        errors="replace")
        self._reader = threading.Thread(target=self._read, args=(log,), daemon=True, name="command-stdout")
        self._reader.start()

    def _read(self, log) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            log.write(line)
            log.flush()
            with self.changed:
                self.lines.append(line)
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def printed(self, text: str) -> bool:
        with self.changed:
            return any(text in line for line in self.lines)

    def stop(self) -> int:
        """SIGTERM, then SIGKILL after a grace; STILL_RUNNING when it had to be stopped."""
        stopped = process.stop(self.process, STOP_GRACE_S)
        code = self.finish()
        return STILL_RUNNING if stopped else code

    def finish(self) -> int:
        code = self.process.wait()
        self._reader.join(5)
        return code

    @property
    def stdout(self) -> str:
        with self.changed:
            return "".join(self.lines)


class Command(WorkloadSpec):
    type: Literal["command"]
    name: str = Field(description="names the workload in expectations and results")
    node: str = Field(description="the host to run it in")
    run: list[Argument] = Field(min_length=1, description="argv; no shell is involved. Placeholders: "
                                "{HOST.ipv4}, {HOST.ipv6}, {results}, {phase}, {seconds}, {repetition}, "
                                "{here} (the scenario's directory)")
    timeout: Duration("1ms") | None = Field(None, description="stop it after this long (default: the phase)")
    background: bool = Field(False, description="a server: started before the phase's other workloads, "
                                                "ready before they start, stopped after them")
    ready: Ready | None = Field(None, description="when a background server is ready (default: once started)")

    NODE_FIELDS: ClassVar[tuple[str, ...]] = ("node",)
    OPEN_METRICS: ClassVar[bool] = True  # the program's own, from its JSON
    METRICS: ClassVar[tuple[Metric, ...]] = (
        Metric("exit_code", "", f"the program's exit code ({STILL_RUNNING}: still running at the end, "
                                f"stopped; {CANNOT_RUN}: could not start)"),
        Metric("<key>", "", "any number in the last JSON object the program printed on a line of stdout, "
                            "e.g. {\"loss_pct\": 3.2} gives myapp.loss_pct"),
    )

    @field_validator("run")
    @classmethod
    def _here(cls, value: list[str], info: ValidationInfo) -> list[str]:
        """{here}: the scenario's directory (a program or file beside it), known as it loads."""
        base = Path((info.context or {}).get("base", ".")).resolve()
        escaped = str(base).replace("{", "{{").replace("}", "}}")
        return [argument.replace(HERE, escaped) for argument in value]

    @model_validator(mode="after")
    def _placeholders_and_readiness(self) -> Command:
        for k, argument in enumerate(self.run):
            try:
                names = placeholders(argument)
            except ValueError as exc:
                raise FieldError(("run", k), f"{exc} (write {{{{ and }}}} for literal braces)") from None
            for name in names:
                host, dot, field = name.partition(".")
                if not (name in PHASE_FIELDS or (dot and host and field in HOST_FIELDS)):
                    raise FieldError(("run", k), f"unknown placeholder {{{name}}}: use {{HOST.ipv4}}, "
                                     f"{{HOST.ipv6}} or {', '.join('{' + f + '}' for f in PHASE_FIELDS)}")
        if self.ready is not None and not self.background:
            raise FieldError("ready", "ready is for a background server: set background: true")
        if self.background and self.timeout is not None:
            raise FieldError("timeout", "a background server runs until the phase's other workloads end")
        return self

    def nodes(self) -> dict:
        used: dict = {"node": self.node}
        for k, argument in enumerate(self.run):
            for name in placeholders(argument):
                if "." in name:
                    used[("run", k)] = name.partition(".")[0]
        return used

    def serves(self) -> bool:
        return self.background

    def input_files(self) -> list[Path]:
        """The files its argv names (a script beside the scenario), for a run in the VM."""
        return [Path(a) for a in self.run if "/" in a and "{" not in a and Path(a).is_file()]

    def _argv(self, ctx: PhaseContext) -> list[str]:
        values = {"results": str(ctx.artefact(self.name, "").parent), "phase": ctx.phase,
                  "seconds": f"{ctx.seconds:g}", "repetition": str(ctx.repetition)}
        for argument in self.run:
            for name in placeholders(argument):
                host, _, field = name.partition(".")
                if field in HOST_FIELDS:
                    endpoint = ctx.endpoint(host)
                    values[name] = endpoint.ipv4 if field == "ipv4" else endpoint.ipv6
        return netns.command(ctx.endpoint(self.node).netns, [fill(a, values) for a in self.run])

    @contextlib.contextmanager
    def _started(self, ctx: PhaseContext) -> Iterator[_Running | None]:
        with ctx.artefact(self.name, ".log").open("w") as log, \
                ctx.artefact(self.name, ".stderr.log").open("w") as errors:
            try:
                running = _Running(self._argv(ctx), log, errors)
            except OSError as exc:
                errors.write(f"cannot run {self.run[0]}: {exc}\n")
                yield None
                return
            try:
                yield running
            finally:
                running.stop()

    def run_phase(self, ctx: PhaseContext) -> Metrics:
        timeout = self.timeout / 1e9 if self.timeout else ctx.seconds
        with self._started(ctx) as running:
            if running is None:
                return {"exit_code": float(CANNOT_RUN)}
            try:
                running.process.wait(timeout)
                code = running.finish()
            except subprocess.TimeoutExpired:
                code = running.stop()
            return {**app_metrics(running.stdout), "exit_code": float(code)}

    @contextlib.contextmanager
    def serving(self, ctx: PhaseContext) -> Iterator[dict]:
        """Start the server, wait until it is ready (WorkloadFailed if it is not in time), and
        yield the dict its metrics go into once the phase's other workloads are done."""
        metrics: dict = {}
        with self._started(ctx) as running:
            if running is None:
                raise WorkloadFailed(f"workload {self.name!r}: cannot run {self.run[0]} (see its "
                                     f"{ctx.artefact(self.name, '.stderr.log').name})")
            self._wait_ready(ctx, running)
            try:
                yield metrics
            finally:
                code = running.stop()
                metrics.update({**app_metrics(running.stdout), "exit_code": float(code)})

    def _wait_ready(self, ctx: PhaseContext, running: _Running) -> None:
        if self.ready is None:
            return
        deadline = time.monotonic() + self.ready.timeout / 1e9
        what = f"port {self.ready.port}" if self.ready.port else f"a line with {self.ready.stdout!r}"
        while time.monotonic() < deadline:
            if self.ready.stdout is not None and running.printed(self.ready.stdout):
                return
            if self.ready.port is not None and _listening(ctx.endpoint(self.node).netns, self.ready.port):
                return
            if running.process.poll() is not None:
                raise WorkloadFailed(f"workload {self.name!r}: {self.run[0]} exited with code "
                                     f"{running.process.returncode} before it was ready ({what})")
            with running.changed:
                running.changed.wait(POLL_S)
        raise WorkloadFailed(f"workload {self.name!r}: not ready ({what}) after "
                             f"{self.ready.timeout / 1e9:g} s")


def _listening(ns: str | None, port: int) -> bool:
    """Something in `ns` listens on TCP `port` or has UDP `port` bound (ss, iproute2)."""
    result = netns.run(ns, ["ss", "-Hlntu", f"sport = :{port}"], check=False)
    return result.returncode == 0 and bool(result.stdout.strip())
