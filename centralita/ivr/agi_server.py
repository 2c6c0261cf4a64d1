"""The FastAGI server: accept, read the header block, run a handler per call, isolated.

Each connection runs in a task of its own with deadlines on every read and write (see
`ivr.agi`); whatever happens in one session (early close, half header, garbage, a slow
peer, a hangup, a crash of the handler) ends only that session, by closing its socket.
Graceful shutdown: stop accepting, give running sessions a grace period, cancel the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from centralita.ivr.agi import LINE_LIMIT, AgiSession, AgiTimeouts, read_request
from centralita.ivr.exceptions import AgiError, AgiHangup

log = structlog.get_logger(__name__)

SessionHandler = Callable[[AgiSession], Awaitable[None]]


class AgiServer:
    """Accept FastAGI connections; run `handler(session)` for each, isolated from the rest."""

    def __init__(
        self,
        handler: SessionHandler,
        *,
        timeouts: AgiTimeouts | None = None,
        max_sessions: int = 1000,
    ) -> None:
        self._handler = handler
        self.timeouts = AgiTimeouts() if timeouts is None else timeouts
        self.max_sessions = max_sessions
        self._server: asyncio.Server | None = None
        self._port: int | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def active_sessions(self) -> int:
        """Connections being served right now."""
        return len(self._tasks)

    async def wait_idle(self, timeout_s: float | None = None) -> None:
        """Wait until no session is running (raises TimeoutError after `timeout_s`)."""
        async with asyncio.timeout(timeout_s):
            await self._idle.wait()

    @property
    def port(self) -> int:
        """The bound TCP port (useful with port 0)."""
        if self._port is None:
            raise RuntimeError("server not started")
        return self._port

    async def start(self, host: str, port: int) -> None:
        """Bind and start accepting."""
        self._server = await asyncio.start_server(self._accept, host, port, limit=LINE_LIMIT)
        self._port = int(self._server.sockets[0].getsockname()[1])
        log.info("agi_server_started", host=host, port=self.port)

    async def close(self, grace_s: float = 5.0) -> None:
        """Stop accepting, let running sessions finish for `grace_s`, cancel the rest."""
        if self._server is not None:
            self._server.close()
        pending = set(self._tasks)
        if pending:
            _done, pending = await asyncio.wait(pending, timeout=grace_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        log.info("agi_server_stopped", cancelled_sessions=len(pending))

    async def __aenter__(self) -> AgiServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A plain callback: the session runs in a task of ours, so that shutdown can cancel
        # it without asyncio's client_connected_cb machinery logging the cancellation.
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer))
        self._tasks.add(task)
        self._idle.clear()
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not self._tasks:
            self._idle.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if len(self._tasks) > self.max_sessions:
                log.warning("agi_session_rejected", active=len(self._tasks))
                return
            await self._run(reader, writer)
        finally:
            await _close(writer, self.timeouts.close_s)

    async def _run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await read_request(reader, self.timeouts.header_s)
        except AgiError as exc:
            log.info("agi_session_aborted", stage="header", reason=str(exc))
            return
        session = AgiSession(reader, writer, request, self.timeouts)
        with structlog.contextvars.bound_contextvars(uniqueid=request.uniqueid):
            try:
                await self._handler(session)
            except AgiHangup as exc:
                log.info("agi_session_hangup", reason=str(exc))
            except AgiError as exc:
                log.warning("agi_session_failed", error=type(exc).__name__, reason=str(exc))
            except Exception:
                log.exception("agi_session_crashed")
            else:
                log.debug("agi_session_closed", commands=session.commands_sent)


async def _close(writer: asyncio.StreamWriter, timeout_s: float) -> None:
    writer.close()
    try:
        async with asyncio.timeout(timeout_s):
            await writer.wait_closed()
    except (OSError, TimeoutError):
        writer.transport.abort()


async def start_agi_server(
    handler: SessionHandler,
    host: str = "127.0.0.1",
    port: int = 4573,
    *,
    timeouts: AgiTimeouts | None = None,
    max_sessions: int = 1000,
) -> AgiServer:
    """Start a FastAGI server running `handler` per connection; close it with `close()`."""
    server = AgiServer(handler, timeouts=timeouts, max_sessions=max_sessions)
    await server.start(host, port)
    return server
