"""IVR fixtures: flow data, the real routing, an in-memory directory, a running server."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from centralita.ivr.agi import AgiTimeouts
from centralita.ivr.agi_server import AgiServer
from centralita.ivr.app import start_ivr_server
from centralita.ivr.directory import CustomerDirectory, StaticCustomerDirectory
from centralita.ivr.flow_config import IvrConfig, load_config
from centralita.ivr.flows import Router
from centralita.ivr.routing_adapter import RoutingRouter
from centralita.routing import load_routing
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
    """The lab's routing (tests/fixtures/routing-lab.toml): the shipped routing plus the
    example rules (office hours, weekend damages to an extension, priority by segment)
    these flows are tested with."""
    table = load_routing(Path(__file__).resolve().parents[1] / "fixtures" / "routing-lab.toml")
    return RoutingRouter(lambda: table)


def priority(router: RoutingRouter, dialed: str, segment: str | None) -> str:
    """What the lab's routing gives this segment, as CC_PRIORITY."""
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
        config: IvrConfig | None = None,
    ) -> AgiServer:
        server = await start_ivr_server(
            config or fast_config,
            router_ or router,
            directory_ or directory,
            host="127.0.0.1",
            port=0,
            # generous unless a test is about timeouts: 300 sessions at once on a loaded
            # machine (the suite runs in 4 processes) may wait over a second for a reply
            timeouts=timeouts or AgiTimeouts(header_s=10.0, reply_s=10.0, write_s=10.0),
            max_sessions=max_sessions,
            clock=lambda: at,
        )
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close(grace_s=1.0)
