"""Each catalog profile that needs no netem shows its signature on the host kernel too
(the VM tier runs every profile's signature, netem or not)."""

from __future__ import annotations

import pytest

from tests.signatures import profiles, run_signature


@pytest.mark.parametrize("name", profiles(netem=False))
def test_signature_on_the_host_kernel(name: str, tmp_path) -> None:
    run_signature(name, tmp_path)
