"""Fixtures of the integration tests: a Mosquitto of our own that a test may stop."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.brokers import PrivateBroker, running_private_broker

StoppableBroker = PrivateBroker


@pytest.fixture
def stoppable_broker(tmp_path: Path) -> Iterator[StoppableBroker]:
    """A Mosquitto this test may stop and start (skips when mosquitto is not installed,
    fails instead under ``CENTRALITA_REQUIRE_SERVICES=1``)."""
    yield from running_private_broker(tmp_path)
