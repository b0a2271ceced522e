"""VM tier: needs sch_netem, so it runs inside the testbed VM:
    testbed vm run -- python3 -m pytest -m vm tests/vm
"""

from __future__ import annotations

import pytest

from testbed.kernel import probe
from tests.host.conftest import _root, topo  # noqa: F401 - shared fixtures


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/vm/" in str(item.fspath):
            item.add_marker(pytest.mark.vm)


@pytest.fixture(autouse=True)
def _netem() -> None:
    if "sch_netem" not in probe.available_qdiscs():
        pytest.fail("this kernel has no sch_netem: run the VM tier inside the VM "
                    "(testbed vm run -- python3 -m pytest -m vm tests/vm)")
