"""Input errors a user can act on: file, line, field, what is wrong, and a hint."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


@dataclass
class InputError(Exception):
    """Bad user input (profile, scenario, command line). The CLI exits 2 with these lines."""

    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)

    @classmethod
    def single(cls, message: str, file: str = "command line") -> InputError:
        return cls([Problem(file, None, "", message)])


class KernelFeatureMissing(RuntimeError):
    """A kernel feature a Plan needs is absent; raised before anything is changed."""
