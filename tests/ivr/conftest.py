"""IVR fixtures: flow data, a fake router, an in-memory directory, a running server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest

from ivr.agi import AgiServer, AgiTimeouts
from ivr.app import start_ivr_server
from ivr.directory import CustomerDirectory, StaticCustomerDirectory
from ivr.flow_config import IvrConfig, load_config
from tests.ivr.fakes import CUSTOMERS, FakeRouter


@pytest.fixture(scope="session")
def ivr_config() -> IvrConfig:
    return load_config()


@pytest.fixture
def fast_config(ivr_config: IvrConfig) -> IvrConfig:
    import msgspec

    return msgspec.structs.replace(ivr_config, lookup_timeout_s=0.3)


@pytest.fixture
def directory() -> StaticCustomerDirectory:
    return StaticCustomerDirectory(CUSTOMERS)


StartServer = Callable[..., Coroutine[Any, Any, AgiServer]]


@pytest.fixture
async def start_server(
    fast_config: IvrConfig, directory: StaticCustomerDirectory
) -> AsyncIterator[StartServer]:
    """Start IVR servers on port 0 (closed at teardown)."""
    servers: list[AgiServer] = []

    async def start(
        *,
        router: Any = None,
        directory_: CustomerDirectory | None = None,
        timeouts: AgiTimeouts | None = None,
        max_sessions: int = 1000,
    ) -> AgiServer:
        server = await start_ivr_server(
            fast_config,
            router or FakeRouter(),
            directory_ or directory,
            host="127.0.0.1",
            port=0,
            timeouts=timeouts or AgiTimeouts(header_s=1.0, reply_s=1.0, write_s=1.0),
            max_sessions=max_sessions,
        )
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close(grace_s=1.0)
