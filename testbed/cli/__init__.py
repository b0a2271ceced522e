"""The `testbed` command line: testbed/cli/app.py assembles it from one module per command group."""

from testbed.cli.app import main

__all__ = ["main"]
