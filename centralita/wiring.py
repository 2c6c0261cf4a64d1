"""Optional parts of the daemon: IVR server, screen-pop publisher, HTTP (console, /metrics).

Kept apart from ``daemon.py`` so each package's wiring reads in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
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
    sinks: list[EffectSink] = []
    extra.setdefault("after_listener", [])
    extra.setdefault("coroutines", [])
    sinks += _screen_pops(daemon, holder, engine, extra)
    if daemon.settings.campaign.enabled:
        sinks += _campaign(daemon, engine, extra)
    return sinks


class _CurrentRouting:
    """The routing table as it is now (hot reload), for the publisher's service names."""

    def __init__(self, holder: RoutingHolder) -> None:
        self.holder = holder

    def service(self, key: str) -> Any:
        """The current table's service with this key (KeyError if none)."""
        return self.holder.table.service(key)


def _screen_pops(
    daemon: Daemon, holder: RoutingHolder, engine: AsyncEngine, extra: dict[str, Any]
) -> list[EffectSink]:
    """The screen-pop publisher (MQTT, or the in-process bus alone) and the live state."""
    from ami_listener.publisher import ScreenPopPublisher, directory_lookup, service_resolver
    from console.live import LiveState
    from ivr.directory import SqlCustomerDirectory

    s = daemon.settings
    table = holder.table
    publisher = ScreenPopPublisher(
        s.pbx_id,
        s.mqtt.host or None,
        s.mqtt.port,
        services=service_resolver(_CurrentRouting(holder)),
        customer_lookup=directory_lookup(SqlCustomerDirectory(engine)),
        pop_max_age_s=s.mqtt.pop_max_age_s,
    )
    live = LiveState(
        s.pbx_id,
        measured=[x.key for x in table.measured_services()],
        service_names={x.key: x.name for x in table.services},
    )
    extra["publisher"] = publisher
    extra["live"] = live
    extra["publisher_stats"] = publisher.counters
    extra["today_service_level"] = live.today_service_level
    extra["coroutines"].append(_run_publisher(daemon, publisher))
    return [publisher, live]


def campaign_pop_sink(publisher: Any) -> Any:
    """The campaign's pop (customer, due date, attempt) as a screen-pop for the agent: the
    call's own pop (service prepago, script K) completed with the campaign's customer."""
    import msgspec

    from ami_listener.publisher import CustomerInfo, ScreenPop
    from campaigns.ports import CampaignPop

    async def send(cp: CampaignPop) -> None:
        delivered = publisher.bus.pop_for_call(cp.uniqueid)
        if delivered is None:
            log.warning("campaign_pop_without_call_pop", uniqueid=cp.uniqueid)
            return
        pop = msgspec.json.decode(delivered.body, type=ScreenPop)
        f = cp.fields
        pop.customer = CustomerInfo(
            contract=f.get("contrato", ""),
            name=f.get("nombre", ""),
            segment="prepago",
            phone=f.get("telefono", ""),
            services=[f["servicio"]] if f.get("servicio") else [],
            notes=f"Vencimiento {f.get('vencimiento', '')}; intento {f.get('intento', '')}",
            source="caller_number",
        )
        pop.script_id = cp.script_id
        publisher.publish_pop(pop)

    return send


async def _run_publisher(daemon: Daemon, publisher: Any) -> None:
    """The publisher's task, ended when the daemon stops."""
    task = asyncio.create_task(publisher.run())
    stop = asyncio.create_task(daemon.stop_event.wait())
    try:
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


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
        pop_sink=campaign_pop_sink(extra["publisher"]),
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
    await _mount_console(daemon, parts)
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


async def _mount_console(daemon: Daemon, parts: DaemonParts) -> None:
    """Build the console app (users, sessions, live state loaded with today's calls)."""
    from console.app import create_app
    from console.exceptions import UsersFileError
    from console.users import UserDirectory, load_users

    s = daemon.settings
    live = parts.extra["live"]
    await live.load_today(parts.engine)
    users = UserDirectory([])
    if s.http.users_file:
        try:
            users = await asyncio.to_thread(load_users, Path(s.http.users_file))
        except UsersFileError as exc:
            # A broken users file closes the console, never the daemon: calls keep flowing.
            log.error("console_users_rejected", reason=str(exc))
            parts.extra["console_users_error"] = str(exc)
    if not len(users):
        log.warning("console_without_users", hint="centralita console users add NAME ...")
    parts.extra["console_app"] = create_app(
        s.pbx_id,
        parts.engine,
        parts.extra["publisher"],
        live,
        users,
        session_key=s.session_key(),
        secure_cookies=s.http.secure_cookies,
    )
