"""The IVR server: FastAGI transport + flows, wired to routing and the customer directory."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable

from centralita.ivr.agi import AgiSession, AgiTimeouts
from centralita.ivr.agi_server import AgiServer, start_agi_server
from centralita.ivr.directory import CustomerDirectory
from centralita.ivr.flow_config import IvrConfig
from centralita.ivr.flows import CallInfo, IvrFlow, Router
from centralita.ivr.routing_adapter import RoutingRouter
from centralita.routing import RoutingHolder

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def call_info(session: AgiSession, started: dt.datetime) -> CallInfo:
    """The dialed service from `ivr?service=<exten>` (else agi_extension), caller, uniqueid."""
    request = session.request
    dialed = request.params.get("service") or request.extension
    return CallInfo(
        dialed=dialed, uniqueid=request.uniqueid, started=started, caller=request.callerid
    )


class IvrHandler:
    """The per-connection handler: one flow run per AGI session."""

    def __init__(self, flow: IvrFlow, clock: Clock = utc_now) -> None:
        self.flow = flow
        self.clock = clock

    async def __call__(self, session: AgiSession) -> None:
        """Run the flow of the call on this session."""
        await self.flow.run(session, call_info(session, self.clock()))


async def start_ivr_server(
    config: IvrConfig,
    router: Router,
    directory: CustomerDirectory,
    *,
    host: str = "127.0.0.1",
    port: int = 4573,
    timeouts: AgiTimeouts | None = None,
    max_sessions: int = 1000,
    clock: Clock = utc_now,
) -> AgiServer:
    """Start the IVR's FastAGI server; stop it with `await server.close(grace_s)`."""
    handler = IvrHandler(IvrFlow(config, router, directory), clock)
    return await start_agi_server(handler, host, port, timeouts=timeouts, max_sessions=max_sessions)


async def serve_until(
    stop: asyncio.Event,
    config: IvrConfig,
    holder: RoutingHolder,
    directory: CustomerDirectory,
    *,
    host: str,
    port: int,
    grace_s: float = 10.0,
    timeouts: AgiTimeouts | None = None,
) -> None:
    """Run the IVR until `stop` is set: follow routing file edits, then shut down gracefully.

    On stop the server stops accepting, running sessions get `grace_s` to finish (each has
    set a queue already), the rest are cancelled, and the directory is closed.
    """
    server = await start_ivr_server(
        config,
        RoutingRouter.from_holder(holder),
        directory,
        host=host,
        port=port,
        timeouts=timeouts,
    )
    watcher = asyncio.create_task(holder.watch())
    try:
        await stop.wait()
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await server.close(grace_s)
        await directory.close()
