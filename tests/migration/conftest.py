import pytest
import time_machine

from tests.migration.support import NOW


@pytest.fixture
def frozen_clock():
    """The clock stopped at NOW (mid-November 2026): grandfathering ends three months later."""
    with time_machine.travel(NOW, tick=False):
        yield NOW
