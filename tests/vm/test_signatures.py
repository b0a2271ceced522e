"""Every catalog profile shows its signature on the VM's stock kernel: the throttle
converges to 130-150 kbit/s, the freeze stalls at 16 KiB, QUIC Initials of 1001 B are
dropped while 1000 B pass, blocked calls lose everything while chat passes, the curfew
follows its schedule, and so on (each profile's scenarios/signatures/<name>.yaml). Those
whose expectations listen to the calls run from the host instead, their audio scored
(tests/host/test_vm_speech.py)."""

from __future__ import annotations

import pytest

from tests.signatures import listening, profiles, run_signature


@pytest.mark.parametrize("name", sorted(set(profiles()) - set(listening())))
def test_signature(name: str, tmp_path) -> None:
    run_signature(name, tmp_path)
