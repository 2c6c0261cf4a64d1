"""Hosting a month's campaign next to an AMI listener: the daemon and `campaign run` alike.

::

    sender = DeferredSender()                    # the listener's client does not exist yet
    sinks, coroutines = build(engine, sender, "2025-03", settings, clock, stop=stop_event)
    listener = ListenerService(ami, engine, tracker, [*other_sinks, *sinks])
    sender.bind(listener.client)
    # supervise listener.run() and every coroutine (TaskGroup); set stop_event to end them

``sinks`` go to the listener's pipeline (they see every decoded event and every tracker
effect, and only enqueue); ``coroutines`` are the sink's consumer and the dialer. With
`stop` they end by themselves once it is set (the dialer finishes the step it is in, the
consumer the items already handed to it); without it the dialer's coroutine ends when the
campaign is over and the consumer runs until cancelled.

Without a fixed month the daemon hosts a :class:`CampaignRotation`: one sink for the
listener, and a coroutine that works every due month whose window contains today (and
whose list is imported): from 25 November December's list, and from 25 December
January's too while December's runs to its end on the 31st.

The calling hours are routing.toml's (:class:`RoutingHours`: the table in force, asked at
each dialer step, so a routing reload changes them at once).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.events import AmiEvent, QueueMember, QueueStatusComplete
from centralita.ami_listener.exceptions import AmiConnectionError
from centralita.ami_listener.pipeline import RESYNC_ACTION_PREFIX, EffectSink
from centralita.ami_listener.protocol import AmiMessage
from centralita.ami_listener.tracker import Effect, MemberUpdated
from centralita.campaigns import store
from centralita.campaigns.dialer import Dialer, DialerSettings
from centralita.campaigns.exceptions import CampaignConfigError, CampaignNotFoundError
from centralita.campaigns.ports import Clock, PopSink
from centralita.campaigns.sinks import ActionSender, AmiOriginator, CampaignSink, MemberAvailability
from centralita.campaigns.window import CallingHours, calling_hours, due_months
from centralita.routing.table import RoutingTable

log = structlog.get_logger(__name__)

RECHECK_S = 60.0
"""How often the rotation looks whether a new due month's window has opened."""

DRAIN_S = 10.0
"""On stop, how long the consumer may take to finish the items already handed to it."""


class RoutingHours:
    """The calling hours of `service` in the routing table in force (``table()``: the
    daemon's ``RoutingHolder.table``), for :class:`~campaigns.dialer.Dialer`'s
    `calling_hours`: rebuilt when the table changes (a reload).

    A table without the service's ``[service.campaign]`` refuses to start
    (:class:`~campaigns.exceptions.CampaignConfigError`, at construction); if a reload
    removes it, the hours of the previous table stay (logged once per table), as a routing
    file with errors leaves the previous routing.
    """

    def __init__(self, table: Callable[[], RoutingTable], service: str) -> None:
        self.table = table
        self.service = service
        self._seen = table()
        self._hours = calling_hours(self._seen, service)

    def __call__(self) -> CallingHours:
        table = self.table()
        if table is not self._seen:
            self._seen = table
            try:
                self._hours = calling_hours(table, self.service)
            except CampaignConfigError as exc:
                log.error("campaign_hours_kept", service=self.service, reason=str(exc))
        return self._hours


class DeferredSender:
    """An :class:`~campaigns.sinks.ActionSender` bound after construction, for hosts whose
    AMI client is created after the sinks (``ListenerService`` builds its own client)."""

    def __init__(self, target: ActionSender | None = None) -> None:
        self.target = target

    def bind(self, target: ActionSender) -> None:
        """Send through `target` from now on."""
        self.target = target

    async def send(self, fields: dict[str, str], timeout_s: float = 10.0) -> AmiMessage:
        """Send through the bound client; AmiConnectionError while unbound."""
        if self.target is None:
            raise AmiConnectionError("AMI client not bound yet")
        return await self.target.send(fields, timeout_s)


def build(
    engine: AsyncEngine,
    ami_client: ActionSender,
    month: str,
    settings: DialerSettings,
    clock: Clock,
    *,
    stop: asyncio.Event | None = None,
    stop_when_done: bool = False,
    pop_sink: PopSink | None = None,
    calling_hours: Callable[[], CallingHours] | None = None,
) -> tuple[list[EffectSink], list[Coroutine[Any, Any, None]]]:
    """The sinks and the coroutines that run `month`'s campaign over `ami_client`.

    Args:
        engine: the database with the campaign tables (and the event log, read on start).
        ami_client: sends the Originates (``AmiClient`` or a :class:`DeferredSender`).
        month: the campaign, ``YYYY-MM`` (its list must be imported).
        settings: window, service, retries, queues, Originate fields.
        clock: aware "now" (production: UTC wall clock).
        stop: when set, the coroutines finish what they are doing and return.
        stop_when_done: set `stop` once the campaign is over (a standalone runner).
        pop_sink: where to send the agent's screen-pop of a connected call.
        calling_hours: routing.toml's calling hours in force (:class:`RoutingHours`),
            asked at each step; None: the shipped routing.toml's.
    """
    availability = MemberAvailability()
    dialer = Dialer(
        engine,
        month,
        AmiOriginator(ami_client),
        availability,
        clock=clock,
        settings=settings,
        pop_sink=pop_sink,
        calling_hours=calling_hours,
    )
    sink = CampaignSink(dialer, availability)
    sinks: list[EffectSink] = [sink]
    return sinks, [_consume(sink, stop), _dial(dialer, stop, stop_when_done=stop_when_done)]


async def _consume(sink: CampaignSink, stop: asyncio.Event | None) -> None:
    task = asyncio.ensure_future(sink.run())
    try:
        if stop is None:
            await task
            return
        await stop.wait()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sink.wait_idle(), DRAIN_S)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _dial(dialer: Dialer, stop: asyncio.Event | None, *, stop_when_done: bool) -> None:
    if stop is None:
        await dialer.run()
        return
    task = asyncio.ensure_future(dialer.run(stop))
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            dialer.wake()  # run() returns after the step it is in
        await task
        if stop_when_done and dialer.done:
            stop.set()
    finally:
        stopped.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class _SharedAvailability:
    """Free agents for one of several dialers sharing the agents: the members' free count
    minus the calls the *other* dialers have out (each dialer subtracts its own)."""

    def __init__(self, base: MemberAvailability, rotation: CampaignRotation, month: str) -> None:
        self.base = base
        self.rotation = rotation
        self.month = month

    def free_agents(self, queue: str) -> int:
        others = sum(
            hosted.dialer.calls_out(queue)
            for month, hosted in self.rotation.hosted.items()
            if month != self.month
        )
        return max(self.base.free_agents(queue) - others, 0)


@dataclass
class _Hosted:
    dialer: Dialer
    sink: CampaignSink
    task: asyncio.Task[None]


class CampaignRotation:
    """The daemon's campaign without a fixed month: every due month whose window (the
    settings' :class:`~campaigns.window.WindowRule`) contains today and whose list is
    imported is dialled, until its window is over.

    Register it as an ``EffectSink`` on the listener (``handle``/``handle_event`` forward
    to each month's sink) and supervise :meth:`run`. Dialers of overlapping months share
    one lock and the agents (neither counts the other's calls out as free agents).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        ami_client: ActionSender,
        settings: DialerSettings,
        clock: Clock,
        *,
        stop: asyncio.Event,
        pop_sink: PopSink | None = None,
        calling_hours: Callable[[], CallingHours] | None = None,
        recheck_s: float = RECHECK_S,
    ) -> None:
        self.engine = engine
        self.originator = AmiOriginator(ami_client)
        self.settings = settings
        self.clock = clock
        self.stop = stop
        self.pop_sink = pop_sink
        self.calling_hours = calling_hours
        self.recheck_s = recheck_s
        self.availability = MemberAvailability()
        self.hosted: dict[str, _Hosted] = {}
        self._snapshot: dict[str, list[QueueMember]] = {}
        self.finished: set[str] = set()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()

    # ---------------------------------------------------------------- EffectSink
    def handle(self, effect: Effect) -> None:
        """Keep the shared availability (also while no month is hosted) and forward to
        every hosted month (whose sinks update the same availability: idempotent)."""
        if isinstance(effect, MemberUpdated):
            self.availability.update(
                effect.queue,
                effect.interface,
                status=effect.status,
                paused=effect.paused,
                in_call=effect.in_call,
                removed=effect.removed,
            )
        for hosted in list(self.hosted.values()):
            hosted.sink.handle(effect)

    def handle_event(self, event: AmiEvent) -> None:
        """Keep the resync snapshot of the members; forward every decoded AMI event to
        every hosted month."""
        if isinstance(event, QueueMember) and event.action_id.startswith(RESYNC_ACTION_PREFIX):
            self._snapshot.setdefault(event.action_id, []).append(event)
        elif isinstance(event, QueueStatusComplete) and event.action_id.startswith(
            RESYNC_ACTION_PREFIX
        ):
            self.availability.replace(self._snapshot.pop(event.action_id, []))
        for hosted in list(self.hosted.values()):
            hosted.sink.handle_event(event)

    # ------------------------------------------------------------------ control
    def months_due(self) -> list[str]:
        """The due months whose window contains the clock's day, earliest first."""
        return due_months(self.clock(), self.settings.window)

    async def check(self) -> list[str]:
        """Start the due months not hosted yet (with an imported list); forget the ended
        ones. Returns the months hosted now."""
        for month, hosted in list(self.hosted.items()):
            if hosted.task.done():
                self.hosted.pop(month)
                self.finished.add(month)
                log.info("campaign_month_ended", month=month, placed=hosted.dialer.placed)
        for month in self.months_due():
            if month in self.hosted or month in self.finished or self.stop.is_set():
                continue
            try:
                await store.get_campaign(self.engine, month)
            except CampaignNotFoundError:
                continue  # no list imported (yet): looked at again at the next check
            self._start(month)
        return sorted(self.hosted)

    def _start(self, month: str) -> None:
        dialer = Dialer(
            self.engine,
            month,
            self.originator,
            _SharedAvailability(self.availability, self, month),
            clock=self.clock,
            settings=self.settings,
            pop_sink=self.pop_sink,
            calling_hours=self.calling_hours,
            lock=self._lock,
        )
        sink = CampaignSink(dialer, self.availability)
        month_stop = asyncio.Event()

        async def hosted() -> None:
            relay = asyncio.ensure_future(self._relay_stop(month_stop))
            try:
                await asyncio.gather(
                    _consume(sink, month_stop),
                    _dial(dialer, month_stop, stop_when_done=True),
                )
            finally:
                relay.cancel()
                self._wake.set()

        task = asyncio.ensure_future(hosted())
        self.hosted[month] = _Hosted(dialer, sink, task)
        log.info("campaign_month_started", month=month)

    async def _relay_stop(self, month_stop: asyncio.Event) -> None:
        await self.stop.wait()
        month_stop.set()

    async def run(self) -> None:
        """Check every `recheck_s` (and when a month ends) until `stop`; then wait for the
        hosted months to finish what they are doing."""
        try:
            while not self.stop.is_set():
                await self.check()
                self._wake.clear()
                stopping = asyncio.ensure_future(self.stop.wait())
                woken = asyncio.ensure_future(self._wake.wait())
                try:
                    await asyncio.wait(
                        {stopping, woken}, timeout=self.recheck_s, return_when="FIRST_COMPLETED"
                    )
                finally:
                    stopping.cancel()
                    woken.cancel()
        finally:
            tasks = [h.task for h in self.hosted.values()]
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
