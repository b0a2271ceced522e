"""One error hierarchy. Every error carries the exit code the CLI ends with, so the
mapping is made once (testbed/cli/app.py) and a module raises what it means:

    0    success
    1    CheckFailed          an expectation (a check) did not hold
    2    InputError           bad input: a file, a field, an option; nothing was changed
    3    Missing              the machine lacks a kernel feature or a program (named)
    4    EnvironmentFailure   the environment or the testbed failed: a workload crashed,
                              a namespace vanished, the VM died, a bug
    130  Interrupted          Ctrl-C; SIGTERM and SIGHUP end the same way, with 143 and 129
                              (128 + the signal's number, as shells report them)
"""

from __future__ import annotations

import signal
from dataclasses import dataclass


class TestbedError(Exception):
    """The base of every error the testbed raises on purpose."""

    __test__ = False  # not a pytest test class, whatever its name says
    exit_code = 4

    def __reduce__(self):
        # as it is, not through its constructor (whose arguments differ from its args): errors
        # cross from the scoring stage's worker processes whole
        return _rebuilt, (type(self), self.args, self.__dict__)


def _rebuilt(cls: type[TestbedError], args: tuple, state: dict) -> TestbedError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class CheckFailed(TestbedError):
    exit_code = 1


@dataclass(frozen=True)
class Problem:
    """One located problem in some input: file, line, field, what is wrong."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class InputError(TestbedError):
    """Bad user input (profile, scenario, command line). Exit 2; nothing was changed."""

    exit_code = 2

    def __init__(self, problems: list[Problem] | None = None):
        self.problems = list(problems or [])
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)

    @classmethod
    def single(cls, message: str, file: str = "command line") -> InputError:
        return cls([Problem(file, None, "", message)])


class Missing(TestbedError):
    """The machine lacks something the command needs. Exit 3; raised before any change."""

    exit_code = 3


class KernelFeatureMissing(Missing):
    """A kernel feature a Plan needs is absent (sch_netem, an nft expression ...)."""


class ProgramMissing(Missing):
    """A program is not installed: says which Debian package has it."""

    def __init__(self, program: str, package: str, purpose: str = ""):
        self.program, self.package = program, package
        why = f" ({purpose})" if purpose else ""
        super().__init__(f"{program} is not installed{why}: apt-get install {package} "
                         "(scripts/setup.sh installs everything)")


class ModuleMissing(Missing):
    """A Python package is not installed: says which extra of the project brings it."""

    def __init__(self, module: str, extra: str, purpose: str = ""):
        why = f" ({purpose})" if purpose else ""
        super().__init__(f"the Python package {module} is not installed{why}: "
                         f".venv/bin/pip install -e '.[{extra}]' (scripts/setup.sh installs everything)")


class NeedsRoot(Missing):
    def __init__(self, what: str = "this command", why: str = "it changes network namespaces"):
        super().__init__(f"{what} needs root ({why}): run it with sudo")


class EnvironmentFailure(TestbedError):
    """Something in the environment or the testbed itself failed mid-way. Exit 4."""

    exit_code = 4


class WorkloadFailed(EnvironmentFailure):
    pass


class NamespaceVanished(EnvironmentFailure):
    def __init__(self, netns: str, during: str = ""):
        self.netns = netns
        super().__init__(f"network namespace {netns} vanished{' during ' + during if during else ''} "
                         "(removed by someone else, e.g. `testbed clean --all`)")


class Interrupted(TestbedError):
    """Ctrl-C, SIGTERM or SIGHUP: the run was stopped and cleaned up."""

    def __init__(self, signum: int = signal.SIGINT):
        self.signum = signum
        name = signal.Signals(signum).name
        super().__init__(f"interrupted by {name}")

    @property
    def exit_code(self) -> int:  # type: ignore[override]
        return 128 + self.signum
