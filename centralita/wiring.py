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

from centralita.ami_listener.pipeline import EffectSink
from centralita.routing import RoutingHolder

if TYPE_CHECKING:
    from centralita.console.security import SessionKey
    from centralita.daemon import Daemon, DaemonParts
    from centralita.settings import Settings

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
    sinks.append(_call_controls(daemon, holder, extra))
    if daemon.settings.campaign.enabled:
        sinks += _campaign(daemon, holder, engine, extra)
    return sinks


class _CurrentRouting:
    """The routing table as it is now (hot reload), for the publisher's service names."""

    def __init__(self, holder: RoutingHolder) -> None:
        self.holder = holder

    def service(self, key: str) -> Any:
        """The current table's service with this key (KeyError if none)."""
        return self.holder.table.service(key)


def _indicator_of(table: Any) -> Any:
    """The wallboard's view of routing.toml (measured services, names, threshold, target)."""
    from centralita.console.live import Indicator

    return Indicator(
        tuple(x.key for x in table.measured_services()),
        {x.key: x.name for x in table.services},
        table.indicator.threshold_s,
        table.indicator.target_percent,
    )


def _screen_pops(
    daemon: Daemon, holder: RoutingHolder, engine: AsyncEngine, extra: dict[str, Any]
) -> list[EffectSink]:
    """The screen-pop publisher (MQTT, or the in-process bus alone) and the live state."""
    from centralita.console.live import LiveState
    from centralita.screenpop.publisher import ScreenPopPublisher
    from centralita.screenpop.resolvers import directory_lookup, service_resolver

    s = daemon.settings
    login = s.mqtt_login() if s.mqtt.host else None
    directory = customer_directory(s, engine)
    extra["guide"] = directory  # the console's guides, and the daemon's IVR (_ivr)
    publisher = ScreenPopPublisher(
        s.pbx_id,
        s.mqtt.host or None,
        s.mqtt.port,
        services=service_resolver(_CurrentRouting(holder)),
        customer_lookup=directory_lookup(directory),
        pop_max_age_s=s.mqtt.pop_max_age_s,
        customer_timeout_s=s.mqtt.customer_wait_s,
        username=login.username if login else None,
        password=login.password if login else None,
        tls_context=login.tls_context if login else None,
        tls_insecure=login.tls_insecure if login else False,
    )
    live = LiveState(
        s.pbx_id,
        indicator=lambda: _indicator_of(holder.table),
    )
    extra["publisher"] = publisher
    extra["live"] = live
    extra["publisher_stats"] = publisher.counters
    extra["today_service_level"] = live.today_service_level
    extra["coroutines"].append(_run_publisher(daemon, publisher))
    return [publisher, live]


def customer_directory(settings: Settings, engine: AsyncEngine) -> Any:
    """The one customer directory of a daemon: the CRM (``[directory] crm_url``) or the
    ``customers`` table. The pops' cards, the console's guides and the IVR all read it."""
    from centralita.ivr.directory import SqlCustomerDirectory
    from centralita.ivr.directory_http import HttpCustomerDirectory

    crm = settings.directory
    if crm.crm_url:
        return HttpCustomerDirectory(crm.crm_url, timeout_s=crm.timeout_s)
    return SqlCustomerDirectory(engine)


def _call_controls(daemon: Daemon, holder: RoutingHolder, extra: dict[str, Any]) -> Any:
    """The console's pause and transfers ([console] call_controls), over the listener's
    AMI client once it exists; also a sink (the agents' pause states)."""
    from centralita.asterisk_conf.extensions import TRANSFER_CONTEXT
    from centralita.campaigns.hosting import DeferredSender
    from centralita.console.controls import CallControls, TransferTarget

    def targets() -> list[TransferTarget]:
        table = holder.table
        return [
            TransferTarget(s.key, s.name, s.queue)
            for s in table.services
            if s.direction == "inbound"
        ]

    section = daemon.settings.console
    sender = DeferredSender()
    extra["after_listener"].append(lambda listener: sender.bind(listener.client))
    controls = CallControls(
        enabled=section.call_controls,
        pause_reasons=section.pause_reasons,
        sender=sender,
        transfer_context=TRANSFER_CONTEXT,
        outbound_context=holder.table.pbx.outbound_context,
        targets=targets,
    )
    extra["call_controls"] = controls
    return controls


def _dialer_settings(settings: Any) -> Any:
    """The campaign's settings file (``[campaign] settings_file``), else the built-in
    settings; a broken file is a one-line startup error (for the dialer and the report)."""
    from centralita.campaigns.dialer import DialerSettings
    from centralita.campaigns.exceptions import CampaignConfigError
    from centralita.campaigns.settings import load_settings as load_dialer_settings
    from centralita.settings import SettingsError

    path = settings.campaign.settings_file
    try:
        return load_dialer_settings(path) if path else DialerSettings()
    except CampaignConfigError as exc:
        raise SettingsError(f"[campaign] settings_file: {exc}") from exc


def _campaign_rule(settings: Any) -> Any:
    """The campaign's window rule (its settings file's [window]), for the supervisor's
    campaign report; None: the default rule."""
    return _dialer_settings(settings).window if settings.campaign.settings_file else None


def campaign_pop_sink(publisher: Any) -> Any:
    """The campaign's pop (customer, due date, attempt) as a screen-pop for the agent: the
    call's own pop (service prepago, script K) completed with the campaign's customer."""
    import msgspec

    from centralita.campaigns.ports import CampaignPop
    from centralita.screenpop.model import CustomerInfo, IvrInfo, ScreenPop

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
        # The console records the agent's result against this attempt (/api/campana/resultado).
        ivr = pop.ivr or IvrInfo()
        ivr.fields = {
            **ivr.fields,
            "CC_CAMPAIGN_ATTEMPT": str(cp.attempt_id),
            "CC_CAMPAIGN": cp.month,
        }
        pop.ivr = ivr
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


def _campaign(
    daemon: Daemon, holder: RoutingHolder, engine: AsyncEngine, extra: dict[str, Any]
) -> list[EffectSink]:
    """The prepaid campaign: a fixed `[campaign] month`, else every due month whose window
    contains today (from 25 November, December's list); it calls in routing.toml's hours
    (its service's `[service.campaign] windows` and `[[holiday]]`s, as reloaded).

    Raises:
        SettingsError: the campaign settings file is invalid, or routing.toml has no
            `[service.campaign]` for the campaign's service (one Spanish line).
    """
    from datetime import UTC, datetime

    from centralita.campaigns.exceptions import CampaignConfigError
    from centralita.campaigns.hosting import CampaignRotation, DeferredSender, RoutingHours, build
    from centralita.settings import SettingsError

    section = daemon.settings.campaign
    dialer_settings = _dialer_settings(daemon.settings)
    try:
        hours = RoutingHours(lambda: holder.table, dialer_settings.service)
    except CampaignConfigError as exc:
        raise SettingsError(f"[campaign]: {exc}") from exc
    sender = DeferredSender()
    extra["after_listener"].append(lambda listener: sender.bind(listener.client))

    if not section.month:
        rotation = CampaignRotation(
            engine,
            sender,
            dialer_settings,
            lambda: datetime.now(UTC),
            stop=daemon.stop_event,
            pop_sink=campaign_pop_sink(extra["publisher"]),
            calling_hours=hours,
        )
        extra["coroutines"].append(rotation.run())
        log.info("campaign_hosted", month="(ventana vigente)")
        return [rotation]
    sinks, coroutines = build(
        engine,
        sender,
        section.month,
        dialer_settings,
        lambda: datetime.now(UTC),
        stop=daemon.stop_event,
        pop_sink=campaign_pop_sink(extra["publisher"]),
        calling_hours=hours,
    )
    extra["coroutines"].extend(coroutines)
    log.info("campaign_hosted", month=section.month)
    return sinks


def optional_tasks(daemon: Daemon, parts: DaemonParts) -> list[Coroutine[Any, Any, Any]]:
    """Coroutines to supervise next to the listener."""
    s = daemon.settings
    tasks: list[Coroutine[Any, Any, Any]] = list(parts.extra.get("coroutines", []))
    if s.ivr.enabled:
        tasks.append(_ivr(daemon, parts))
    if s.http.enabled:
        tasks.append(_http(daemon, parts))
    if s.mail.host:  # e-mail steps' outbox (messages wait, pending, while it is off)
        from centralita.mail.outbox import Outbox
        from centralita.mail.sender import MailSender

        sender = MailSender(Outbox(parts.engine), s.pbx_id, s.mail_config())
        tasks.append(sender.run(daemon.stop_event))
    return tasks


def ivr_directory(settings: Settings, parts: DaemonParts) -> Any:
    """The IVR's customer lookups: the directory the pops use (the CRM when configured)."""
    found = parts.extra.get("guide")
    return found if found is not None else customer_directory(settings, parts.engine)


async def _ivr(daemon: Daemon, parts: DaemonParts) -> None:
    from centralita.ivr.app import serve_until
    from centralita.ivr.flow_config import load_config

    table = parts.holder.table
    host = daemon.settings.ivr.host or table.ivr.agi_host
    port = daemon.settings.ivr.port or table.ivr.agi_port
    directory = ivr_directory(daemon.settings, parts)
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
    sock = daemon.http_socket
    serving = asyncio.create_task(server.serve(sockets=[sock] if sock is not None else None))
    # Work items: each pop opens one, each call's end is noted (console/workitems.py).
    work = parts.extra["console_app"].state.work_items
    following = asyncio.create_task(work.follow())
    stop = asyncio.create_task(daemon.stop_event.wait())
    await asyncio.wait({serving, stop}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    stop.cancel()
    await serving
    following.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await following


def console_session_key(settings: Settings, *, create: bool = True) -> SessionKey:
    """The console's session key (``centralita.console.security.SessionKey``): the
    configured one (environment or http.session_key_file), else the key file in the state
    directory, generated when missing (consoles survive a restart)."""
    from centralita.console.security import session_key, state_directory

    h = settings.http
    configured = settings.session_key()
    where = f"file:{h.session_key_file}" if h.session_key_file else f"env:{h.session_key_env}"
    folder = Path(h.state_dir) if h.state_dir else state_directory()
    found = session_key(configured, where, folder, create=create)
    if create and found.source == "random":
        log.warning("console_session_key_not_kept", reason=found.detail)
    elif create:
        log.info("console_session_key", source=found.source, where=found.detail)
    return found


async def _mount_console(daemon: Daemon, parts: DaemonParts) -> None:
    """Build the console app (users, sessions, live state loaded with today's calls)."""
    from centralita.console.app import create_app
    from centralita.console.exceptions import UsersFileError
    from centralita.console.users import UserDirectory, load_users

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
        session_key=console_session_key(s).key,
        secure_cookies=s.http.secure_cookies,
        wrapup_s=lambda queue: parts.holder.table.queue(queue).wrapup_s,
        controls=parts.extra.get("call_controls"),
        routing_path=s.routing.path or None,
        campaign_rule=_campaign_rule(s),
        guide=parts.extra.get("guide"),
    )
