"""IVR fixtures: flow data, the real routing, an in-memory directory, a running server."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest

from ivr.agi import AgiTimeouts
from ivr.agi_server import AgiServer
from ivr.app import start_ivr_server
from ivr.directory import CustomerDirectory, StaticCustomerDirectory
from ivr.flow_config import IvrConfig, load_config
from ivr.flows import Router
from ivr.routing_adapter import RoutingRouter
from routing import default_routing_path, load_routing
from tests.ivr.fakes import CUSTOMERS


@pytest.fixture(scope="session")
def ivr_config() -> IvrConfig:
    return load_config()


@pytest.fixture
def fast_config(ivr_config: IvrConfig) -> IvrConfig:
    import msgspec

    return msgspec.structs.replace(ivr_config, lookup_timeout_s=0.3)


TUESDAY_MORNING = dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.UTC)  # 11:00 in La Paz


@pytest.fixture(scope="session")
def router() -> RoutingRouter:
    """The real routing of the shipped routing.toml."""
    table = load_routing(default_routing_path())
    return RoutingRouter(lambda: table)


def priority(router: RoutingRouter, dialed: str, segment: str | None) -> str:
    """What routing.toml (as shipped right now) gives this segment, as CC_PRIORITY."""
    return str(router.route(dialed, TUESDAY_MORNING, segment=segment, topic=None).priority)


@pytest.fixture
def directory() -> StaticCustomerDirectory:
    return StaticCustomerDirectory(CUSTOMERS)


StartServer = Callable[..., Coroutine[Any, Any, AgiServer]]


@pytest.fixture
async def start_server(
    fast_config: IvrConfig, directory: StaticCustomerDirectory, router: RoutingRouter
) -> AsyncIterator[StartServer]:
    """Start IVR servers on port 0 (closed at teardown)."""
    servers: list[AgiServer] = []

    async def start(
        *,
        router_: Router | None = None,
        directory_: CustomerDirectory | None = None,
        timeouts: AgiTimeouts | None = None,
        max_sessions: int = 1000,
        at: dt.datetime = TUESDAY_MORNING,
    ) -> AgiServer:
        server = await start_ivr_server(
            fast_config,
            router_ or router,
            directory_ or directory,
            host="127.0.0.1",
            port=0,
            timeouts=timeouts or AgiTimeouts(header_s=1.0, reply_s=1.0, write_s=1.0),
            max_sessions=max_sessions,
            clock=lambda: at,
        )
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close(grace_s=1.0)
