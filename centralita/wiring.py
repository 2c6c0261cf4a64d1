"""Optional parts of the daemon: IVR server, screen-pop publisher, HTTP (console, /metrics).

Kept apart from ``daemon.py`` so each package's wiring reads in one place.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from ami_listener.pipeline import EffectSink
from routing import RoutingHolder

if TYPE_CHECKING:
    from centralita.daemon import Daemon, DaemonParts

log = structlog.get_logger(__name__)


def make_sinks(
    daemon: Daemon, holder: RoutingHolder, engine: AsyncEngine, extra: dict[str, Any]
) -> list[EffectSink]:
    """Effect sinks for the listener (live state, screen-pops, campaign), built before it.

    Parts that need the listener's AMI client register a callable in
    ``extra["after_listener"]``; the daemon calls each with the listener once it exists.
    """
    del holder
    sinks: list[EffectSink] = []
    extra.setdefault("after_listener", [])
    extra.setdefault("coroutines", [])
    if daemon.settings.campaign.enabled:
        sinks += _campaign(daemon, engine, extra)
    return sinks


def _campaign(daemon: Daemon, engine: AsyncEngine, extra: dict[str, Any]) -> list[EffectSink]:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from campaigns.dialer import DialerSettings
    from campaigns.hosting import DeferredSender, build
    from campaigns.settings import load_settings as load_dialer_settings

    section = daemon.settings.campaign
    month = section.month or datetime.now(ZoneInfo("America/La_Paz")).strftime("%Y-%m")
    dialer_settings = (
        load_dialer_settings(section.settings_file) if section.settings_file else DialerSettings()
    )
    sender = DeferredSender()
    sinks, coroutines = build(
        engine,
        sender,
        month,
        dialer_settings,
        lambda: datetime.now(UTC),
        stop=daemon.stop_event,
    )
    extra["after_listener"].append(lambda listener: sender.bind(listener.client))
    extra["coroutines"].extend(coroutines)
    log.info("campaign_hosted", month=month)
    return sinks


def optional_tasks(daemon: Daemon, parts: DaemonParts) -> list[Coroutine[Any, Any, Any]]:
    """Coroutines to supervise next to the listener."""
    s = daemon.settings
    tasks: list[Coroutine[Any, Any, Any]] = list(parts.extra.get("coroutines", []))
    if s.ivr.enabled:
        tasks.append(_ivr(daemon, parts))
    if s.http.enabled:
        tasks.append(_http(daemon, parts))
    return tasks


async def _ivr(daemon: Daemon, parts: DaemonParts) -> None:
    from ivr.app import serve_until
    from ivr.directory import SqlCustomerDirectory
    from ivr.flow_config import load_config

    table = parts.holder.table
    host = daemon.settings.ivr.host or table.ivr.agi_host
    port = daemon.settings.ivr.port or table.ivr.agi_port
    directory = SqlCustomerDirectory(parts.engine)
    log.info("ivr_starting", host=host, port=port)
    await serve_until(
        daemon.stop_event, load_config(), parts.holder, directory, host=host, port=port
    )


async def _http(daemon: Daemon, parts: DaemonParts) -> None:
    import uvicorn

    from centralita.http import create_http_app

    s = daemon.settings.http
    app = create_http_app(daemon, parts)
    config = uvicorn.Config(app, host=s.host, port=s.port, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    parts.extra["http_server"] = server
    log.info("http_starting", url=f"http://{s.host}:{s.port}/")
    serving = asyncio.create_task(server.serve())
    stop = asyncio.create_task(daemon.stop_event.wait())
    await asyncio.wait({serving, stop}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    stop.cancel()
    await serving


def users_file(daemon: Daemon) -> Path | None:
    """The console users file, if configured."""
    path = daemon.settings.http.users_file
    return Path(path) if path else None
