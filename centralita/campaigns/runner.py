"""`centralita campaign run`: the dialer on its own, against one AMI address.

Composed from the same pieces the daemon uses (``ListenerService`` + :func:`build`). This
process owns the AMI ingest of its connection: like the daemon it writes the event log
(idempotent: the same event from two listeners is stored once) and the call records of
``pbx_id``; so do not run it next to ``centralita run`` for the same PBX and database —
host the campaign inside the daemon instead (:mod:`campaigns.hosting`).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.schema import ami_events
from centralita.ami_listener.service import AmiSettings, ListenerService
from centralita.ami_listener.tracker import CallTracker
from centralita.campaigns import store
from centralita.campaigns.dialer import DialerSettings
from centralita.campaigns.exceptions import CampaignConfigError
from centralita.campaigns.hosting import DeferredSender, build
from centralita.campaigns.ports import Clock
from centralita.campaigns.window import CallingHours

log = structlog.get_logger(__name__)

LISTENER_DRAIN_S = 10.0


async def check_database(engine: AsyncEngine, month: str) -> None:
    """The event log must exist (the campaign's tables come with it); the campaign too.

    Raises:
        CampaignConfigError: no event log (run ``centralita db-migrate`` first).
        CampaignNotFoundError: no list imported for `month`.
    """
    async with engine.connect() as conn:
        found = await conn.run_sync(lambda c: sa.inspect(c).has_table(ami_events.name))
    if not found:
        raise CampaignConfigError(
            "la base de datos no tiene el registro de eventos AMI: "
            "ejecute primero `centralita db-migrate`"
        )
    await store.get_campaign(engine, month)


async def run_campaign(
    engine: AsyncEngine,
    ami: AmiSettings,
    month: str,
    settings: DialerSettings,
    clock: Clock,
    *,
    pbx_id: str = "pbx1",
    stop: asyncio.Event | None = None,
    handle_signals: bool = False,
    hours: CallingHours | None = None,
) -> int:
    """Run `month`'s campaign until it is over or `stop` is set (SIGTERM/SIGINT with
    `handle_signals`), calling in `hours` (routing.toml's, :func:`~campaigns.window.
    calling_hours`; None: the shipped routing.toml's). Stop cleanly: the dialer
    ends its step, results already received are recorded, the listener stores what it
    read. Returns the exit code."""
    await check_database(engine, month)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    sender = DeferredSender()
    sinks, coroutines = build(
        engine,
        sender,
        month,
        settings,
        clock,
        stop=stop,
        stop_when_done=True,
        calling_hours=None if hours is None else (lambda: hours),
    )
    listener = ListenerService(ami, engine, CallTracker(pbx_id), sinks)
    sender.bind(listener.client)
    log.info("campaign_run_started", month=month, ami=f"{ami.host}:{ami.port}", pbx_id=pbx_id)
    try:
        async with asyncio.TaskGroup() as group:
            listening = group.create_task(listener.run(), name="campaign-listener")
            hosted = [group.create_task(c) for c in coroutines]
            await asyncio.wait(
                [*hosted, asyncio.ensure_future(stop.wait())],
                return_when=asyncio.FIRST_COMPLETED,
            )
            stop.set()
            await asyncio.gather(*hosted)
            with contextlib.suppress(TimeoutError):
                await listener.drain(timeout_s=LISTENER_DRAIN_S)
            listening.cancel()
    finally:
        for sig in signals:
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(sig)
    log.info("campaign_run_stopped", month=month)
    return 0
