"""What the commands share: option types that check their values (before anything else
runs, root or not), the --run/--where/--json options, and small helpers."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from testbed.errors import InputError, NeedsRoot
from testbed.topology.runs import DEFAULT_RUN, RUN_ID_PATTERN

WHERE = ("auto", "local", "vm")


class Seconds(click.ParamType):
    """A finite number of seconds above zero (nan, inf, 0 and negatives are refused)."""

    name = "SECONDS"

    def __init__(self, maximum: float = 24 * 3600) -> None:
        self.maximum = maximum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(seconds) or seconds <= 0 or seconds > self.maximum:
            self.fail(f"{value!r}: give a number of seconds above 0 and at most {self.maximum:g}", param, ctx)
        return seconds


class RunId(click.ParamType):
    name = "ID"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if not isinstance(value, str) or not re.fullmatch(RUN_ID_PATTERN, value):
            self.fail(f"{value!r}: a run id is 1-8 lower case letters or digits", param, ctx)
        return value


def run_option(function: Callable) -> Callable:
    return click.option("--run", "-r", "run", type=RunId(), default=DEFAULT_RUN, envvar="TESTBED_RUN",
                        show_default=True, show_envvar=True,
                        help="The run to act on; its namespaces are named tb-ID-NODE.")(function)


def where_option(default: str = "auto", help_text: str | None = None) -> Callable:
    return click.option("--where", type=click.Choice(WHERE), default=default, show_default=True,
                        help=help_text or "auto: this kernel when it has every feature needed, else the "
                        "testbed VM; local: this kernel; vm: the testbed VM.")


def json_option(function: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")(function)


def results_option(default: str, help_text: str) -> Callable:
    return click.option("--results", type=click.Path(file_okay=False, path_type=Path), default=default,
                        show_default=True, help=help_text)


def need_root() -> None:
    """Called after every input is checked: a bad option is exit 2 even for a non-root user."""
    if os.geteuid() != 0:
        raise NeedsRoot()


def argv_of(ctx: click.Context) -> list[str]:
    """The arguments this process was started with (after `testbed`), for forwarding unchanged."""
    return list(ctx.find_root().obj["argv"])


def load_profile_arg(name_or_path: str):
    from testbed.profile.loader import load_profile, resolve_profile_path

    return load_profile(resolve_profile_path(name_or_path))


def features_of(*loaded) -> set[str]:
    from testbed.compile.compiler import compile_profile

    return {f for profile in loaded if profile is not None for f in compile_profile(profile).features}


def bad(message: str) -> InputError:
    return InputError.single(message)


def load_run(run: str):
    """The state of a run that is up on this machine (InputError naming the way out if not)."""
    from testbed.topology.model import TopologyState, state_path

    if not state_path(run).exists():
        hint = "" if run == DEFAULT_RUN else f" --run {run}"
        raise InputError.single(f"run {run!r} is not up; start it with `testbed up{hint}`")
    return TopologyState.load(run)


def run_hint(run: str) -> str:
    """` --run ID` for hints about a run that is not the default one."""
    return "" if run == DEFAULT_RUN else f" --run {run}"
