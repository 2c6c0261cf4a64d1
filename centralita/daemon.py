"""The daemon: composition root of one PBX's services, supervised in a TaskGroup.

``Daemon`` wires the pieces (listener, routing hot reload, IVR, screen-pop publisher,
HTTP console/wallboard/metrics) so that the demo, the tests and ``centralita run`` start
exactly the same thing. A crash of one supervised task ends the process non-zero so that
systemd restarts it; the tracker's state is rebuilt from the event log and from QueueStatus
after the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.ingest import replay_log
from centralita.ami_listener.pipeline import EffectSink
from centralita.ami_listener.service import AmiSettings, ListenerService
from centralita.ami_listener.tracker import CallTracker, ServiceResolver
from centralita.healing import run_healing
from centralita.logs import logging_setup
from centralita.routing import RoutingHolder, default_routing_path
from centralita.routing_glue import resolver_for
from centralita.settings import Settings

log = structlog.get_logger(__name__)


@dataclass
class DaemonParts:
    """What a running daemon exposes to tests, the demo and /metrics."""

    engine: AsyncEngine
    holder: RoutingHolder
    tracker: CallTracker
    listener: ListenerService
    sinks: list[EffectSink] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)


def dynamic_resolver(holder: RoutingHolder) -> ServiceResolver:
    """Service of a queue entry through whatever routing table is current (hot reload)."""

    def service_for(exten: str, queue: str) -> str:
        return resolver_for(holder.table)(exten, queue)

    return service_for


class Daemon:
    """One PBX's services."""

    def __init__(self, settings: Settings, *, extra_sinks: list[EffectSink] | None = None) -> None:
        self.settings = settings
        self.stop_event = asyncio.Event()
        self.extra_sinks = extra_sinks or []
        self.parts: DaemonParts | None = None
        self.ready = asyncio.Event()
        self.drained = asyncio.Event()  # at stop: what was received is stored
        self.http_socket: socket.socket | None = None  # bound by build(), served by uvicorn

    async def build(self) -> DaemonParts:
        """Bind the HTTP port, open the database, load routing, rebuild state from the log,
        build the listener.

        Raises:
            StartupError: the HTTP port cannot be bound (before anything else is done).
        """
        s = self.settings
        if s.http.enabled and self.http_socket is None:
            from centralita.http import bind_http

            self.http_socket = bind_http(s.http.host, s.http.port)
        from centralita.db import open_engine

        try:
            engine = await open_engine(s.database_url())  # one Spanish line when unusable
        except BaseException:
            self._release_http_socket()  # refused at start: nothing stays bound
            raise
        routing_path = Path(s.routing.path) if s.routing.path else default_routing_path()
        try:
            holder = RoutingHolder(routing_path)
        except BaseException:
            await engine.dispose()
            self._release_http_socket()
            raise
        resolver = dynamic_resolver(holder)
        since = int((time.time() - s.replay_window_s) * 1000)
        _records, tracker = await replay_log(engine, s.pbx_id, service_for=resolver, since_ms=since)
        tracker.service_for = resolver
        from centralita.wiring import make_sinks

        extra: dict[str, Any] = {}
        sinks: list[EffectSink] = [*self.extra_sinks, *make_sinks(self, holder, engine, extra)]
        ami = AmiSettings(
            host=s.ami.host,
            port=s.ami.port,
            username=s.ami.username,
            secret=s.ami_secret(),
            events=s.ami.events,
            ping_interval_s=s.ami.ping_interval_s,
            ping_timeout_s=s.ami.ping_timeout_s,
        )
        listener = ListenerService(
            ami,
            engine,
            tracker,
            sinks,
            log_writer=s.database.event_log_writer,
            log_setup=logging_setup(),
        )
        for bind in extra.get("after_listener", []):
            bind(listener)
        self.parts = DaemonParts(engine, holder, tracker, listener, sinks, extra)
        log.info(
            "daemon_built",
            pbx_id=s.pbx_id,
            database=s.safe_database_url(),
            routing=str(routing_path),
            open_calls=len(tracker.calls),
        )
        return self.parts

    def _release_http_socket(self) -> None:
        if self.http_socket is not None:
            self.http_socket.close()
            self.http_socket = None

    async def run(self) -> int:
        """Run until stopped (SIGTERM/SIGINT or ``stop()``); SIGHUP reloads routing."""
        parts = self.parts or await self.build()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGHUP, parts.holder.reload)
            loop.add_signal_handler(signal.SIGTERM, self.stop_event.set)
            loop.add_signal_handler(signal.SIGINT, self.stop_event.set)
        try:
            async with asyncio.TaskGroup() as group:
                core = [
                    group.create_task(parts.listener.run(), name="listener"),
                    group.create_task(parts.holder.watch(self.settings.routing.watch_interval_s)),
                ]
                # Optional parts (IVR, HTTP, publisher) end by themselves on stop_event.
                for coro in self._optional_tasks(parts):
                    group.create_task(coro)
                healing = None
                if self.settings.queue_log.path:  # healing from queue_log (never raises)
                    healing = group.create_task(run_healing(self, parts), name="queue-log-healing")
                self.ready.set()
                await self.stop_event.wait()
                log.info("daemon_stopping")
                with contextlib.suppress(TimeoutError):
                    await parts.listener.drain(timeout_s=10)
                self.drained.set()
                if healing is not None:  # its last pass sees every record stored
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(healing), 30)
                for task in core:
                    task.cancel()
        finally:
            for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.remove_signal_handler(sig)
            await parts.engine.dispose()
            if self.http_socket is not None:  # uvicorn closed it, unless it never served
                self.http_socket.close()
        return 0

    def _optional_tasks(self, parts: DaemonParts) -> list[Any]:
        """IVR, publisher and HTTP, when enabled (each added as its package provides it)."""
        from centralita.wiring import optional_tasks

        return optional_tasks(self, parts)

    def stop(self) -> None:
        """Ask the daemon to stop gracefully."""
        self.stop_event.set()


async def run_daemon(settings: Settings) -> int:
    """`centralita run`."""
    return await Daemon(settings).run()
