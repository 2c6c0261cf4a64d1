"""Close every test AMI client after each test (warnings are errors)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.simulator.amiclient import AmiTestClient


@pytest.fixture(autouse=True)
async def _close_ami_clients() -> AsyncIterator[None]:
    yield
    while AmiTestClient.opened:
        await AmiTestClient.opened.pop().close()
