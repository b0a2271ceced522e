"""The pytest fixture `censored_network` (registered through the pytest11 entry point when the
package is installed): testbed.testing.censored_network for a test, torn down at its end,
and the test skipped, saying why and how to run it in the testbed VM, when this process is
not root or this kernel lacks what the profile needs.

    def test_my_app_survives(censored_network):
        net = censored_network("ru-2025-calls-degraded", inside=["phone"], outside=["server"])
        ...
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest


@pytest.fixture
def censored_network() -> Iterator[Callable[..., object]]:
    """A factory: censored_network(profile=None, inside=("caller",), outside=("callee",)) gives
    a CensoredNetwork (testbed.testing) that lives until the test ends."""
    from testbed import testing

    with contextlib.ExitStack() as stack:
        def make(profile=None, inside=("caller",), outside=("callee",)) -> testing.CensoredNetwork:
            try:
                return stack.enter_context(testing.censored_network(profile, inside, outside))
            except testing.Unavailable as exc:
                pytest.skip(str(exc))

        yield make
