"""What names a run: its id's spelling, the default run, and where runs keep their state.
Kept apart from the topology models so the command line can check a --run without loading
pydantic (a fifth of every command's start on this host, seconds in the emulated VM)."""

from __future__ import annotations

from pathlib import Path

STATE_DIR = Path("/run/testbed")
NS_PREFIX = "tb-"
RUN_ID_PATTERN = r"^[a-z0-9]{1,8}$"
DEFAULT_RUN = "main"  # the run `up`, `apply`, `exec` ... use without --run (or $TESTBED_RUN)
