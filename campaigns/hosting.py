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
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ami_listener.exceptions import AmiConnectionError
from ami_listener.pipeline import EffectSink
from ami_listener.protocol import AmiMessage
from campaigns.dialer import Dialer, DialerSettings
from campaigns.ports import Clock, PopSink
from campaigns.sinks import ActionSender, AmiOriginator, CampaignSink, MemberAvailability

DRAIN_S = 10.0
"""On stop, how long the consumer may take to finish the items already handed to it."""


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
) -> tuple[list[EffectSink], list[Coroutine[Any, Any, None]]]:
    """The sinks and the coroutines that run `month`'s campaign over `ami_client`.

    Args:
        engine: the database with the campaign tables (and the event log, read on start).
        ami_client: sends the Originates (``AmiClient`` or a :class:`DeferredSender`).
        month: the campaign, ``YYYY-MM`` (its list must be imported).
        settings: hours, days off, retries, queues, Originate fields.
        clock: aware "now" (production: UTC wall clock).
        stop: when set, the coroutines finish what they are doing and return.
        stop_when_done: set `stop` once the campaign is over (a standalone runner).
        pop_sink: where to send the agent's screen-pop of a connected call.
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
