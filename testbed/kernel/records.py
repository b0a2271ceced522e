"""The files that record what the testbed made in the kernel (runs, gateways): created whole."""

from __future__ import annotations

import os
from pathlib import Path


def claim_file(path: Path, text: str) -> bool:
    """Create `path` holding `text`, whole or not at all (a hard link appears atomically, so a
    kill -9 never leaves an empty or half-written record); False when it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.new")
    tmp.write_text(text)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink()
    return True
