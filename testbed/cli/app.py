"""The `testbed` command: one click group, one module per command group, and the one place
where errors become exit codes (testbed/errors.py lists them).

Why click: it checks choices and ranges before a command runs, shows them in --help,
wraps help text between words, handles `--` for commands that take a command, and its
CliRunner drives the same code in tests. (typer, used before, renders help through rich
markup: a literal `[/LEN]` in a help text crashed `testbed up --help`.)
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence

import click

from testbed.errors import InputError, Interrupted, TestbedError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
EPILOG = ("Exit codes: 0 ok, 1 a check failed, 2 bad input (nothing changed), 3 a kernel feature or "
          "program is missing, 4 the environment or a workload failed, 130 interrupted (143 SIGTERM, "
          "129 SIGHUP).")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("testbed")
    except PackageNotFoundError:
        return "source"


@click.group(context_settings=CONTEXT, epilog=EPILOG)
@click.version_option(_version(), "--version", "-V", prog_name="testbed")
@click.pass_context
def app(ctx: click.Context) -> None:
    """Reproduce censorship throttling with tc/netem and nftables, and measure what it does
    to calls, chat and downloads."""
    ctx.ensure_object(dict)


def _register() -> None:
    from testbed.cli import censor, experiments, gateway, profiles, results, topology, vm

    for module in (profiles, censor, topology, gateway, experiments, results, vm):
        for command in module.COMMANDS:
            app.add_command(command)


_register()


_MAIN_PID = os.getpid()  # set again by main(): the guest's command server forks commands


def _raise_interrupted(signum: int, _frame: object) -> None:
    if os.getpid() != _MAIN_PID:
        # a forked helper (pyroute2 forks into namespaces) inherits this handler: it must die
        # as the default action would, not unwind the parent's code (which tears runs down)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    if signum == signal.SIGINT:
        raise KeyboardInterrupt  # as Python's own handler (a second Ctrl-C may cut cleanup short)
    # once: a second signal must not cut short the cleanup the first one started
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    raise Interrupted(signum)


def _report(exc: TestbedError) -> None:
    if isinstance(exc, InputError):
        for problem in exc.problems:
            print(problem, file=sys.stderr)  # one unwrapped line each: file:line: field: message
    elif isinstance(exc, Interrupted):
        print(f"{exc}: stopped and cleaned up (`testbed clean` removes anything left behind)",
              file=sys.stderr)
    else:
        print(f"error: {exc}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> None:
    global _MAIN_PID
    _MAIN_PID = os.getpid()
    args = list(sys.argv[1:] if argv is None else argv)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_interrupted)
    try:
        code = app.main(args=args, prog_name="testbed", standalone_mode=False, obj={"argv": args})
        code = code if isinstance(code, int) else 0
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:  # a bad option or argument: exit 2
        exc.show()
        code = 2 if exc.exit_code == 2 else exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        code = _interrupted(Interrupted(signal.SIGINT))
    except Interrupted as exc:
        code = _interrupted(exc)
    except TestbedError as exc:
        _report(exc)
        code = exc.exit_code
    except Exception as exc:  # a bug: a sentence, and the traceback with TESTBED_DEBUG=1
        if os.environ.get("TESTBED_DEBUG"):
            raise
        print(f"internal error: {type(exc).__name__}: {exc}\n(set TESTBED_DEBUG=1 for the traceback; "
              "please report it)", file=sys.stderr)
        code = 4
    sys.exit(code)


def _interrupted(exc: Interrupted) -> int:
    from testbed.scenario.session import close_all

    close_all()  # sessions of worker threads the interrupt did not unwind
    _report(exc)
    return exc.exit_code
