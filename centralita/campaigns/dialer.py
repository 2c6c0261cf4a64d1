"""The progressive dialer: one call per free agent of the campaign queue, never more.

Each :meth:`Dialer.step` (after an Originate result, an agent change, or every
``poll_s``) does, under one lock:

1. expire calls whose result never came (``unknown``) and answered calls that never
   reached an agent (the slot is freed);
2. stop if the campaign is paused, or outside its window or calling hours (routing.toml's
   ``[service.campaign] windows`` of its service, on a ``[[holiday]]`` only the windows
   listing ``holiday``: re-read at each step, so a routing reload applies);
3. count the slots: free agents of each queue minus the calls already out for it
   (ringing, or answered and waiting for the agent);
4. ask the scheduler which customers to call, from the stored attempts;
5. for each: write the attempt (``placing``) and commit, *then* send the Originate.

So a pause, a resume or a restart never repeats a call (the attempt is stored before the
call exists; a ``placing`` attempt blocks its customer) and never loses one (an attempt
whose result is lost becomes ``unknown``, which is retried after its spacing).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.events import OriginateResponse
from centralita.campaigns import event_log, store
from centralita.campaigns.exceptions import OriginateError
from centralita.campaigns.model import PLACING, SCRIPT_ID, SERVICE_LABELS, Customer, mask_phone
from centralita.campaigns.model import outcome_from_reason as _outcome
from centralita.campaigns.ports import (
    AgentAvailability,
    CampaignPop,
    Clock,
    OriginateRequest,
    Originator,
    PopSink,
)
from centralita.campaigns.scheduler import (
    RetryPolicy,
    counted,
    earliest_retry,
    finished,
    plan,
    statuses,
)
from centralita.campaigns.window import (
    DEFAULT_SERVICE,
    DEFAULT_WINDOW_RULE,
    CallingHours,
    WindowRule,
    calling_hours,
    campaign_window,
    may_call,
    next_opening,
    window_over,
)

log = structlog.get_logger(__name__)

LOG_CLOCK_SKEW = timedelta(hours=1)
"""How far before a call's placing time its logged result is looked for (PBX clock skew)."""

DEFAULT_QUEUE = "qprepago"
"""The defaults match the dialplan ``asterisk_conf`` generates from the shipped routing.toml:
``Local/<phone>@from-internal`` dials out, an answered call continues in
``[centralita-campaign]`` at exten ``prepago`` (the service key), which queues it in
``qprepago``."""


@dataclass(frozen=True, slots=True)
class DialerSettings:
    """How the dialer places calls (the campaign month is the dialer's argument).

    `service`: routing.toml's outbound service whose ``[service.campaign] windows`` are the
    calling hours (the hours themselves are routing's, given to the :class:`Dialer`)."""

    service: str = DEFAULT_SERVICE
    window: WindowRule = DEFAULT_WINDOW_RULE
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    queues: dict[str, str] = field(
        default_factory=lambda: {"tv_cable": DEFAULT_QUEUE, "internet": DEFAULT_QUEUE}
    )
    channel: str = "Local/{phone}@from-internal"
    context: str = "centralita-campaign"
    exten: str = "prepago"
    caller_id: str = ""
    ring_timeout_s: float = 30.0
    result_grace_s: float = 30.0
    handoff_s: float = 60.0
    poll_s: float = 5.0


@functools.cache
def shipped_calling_hours(service: str = DEFAULT_SERVICE) -> CallingHours:
    """The calling hours of the routing.toml shipped in the package: those of a dialer
    given none (tests, tools); the daemon and ``campaign run`` give the routing in force."""
    from centralita.routing import default_routing_path, load_routing

    return calling_hours(load_routing(default_routing_path()), service)


@dataclass
class _Out:
    attempt_id: int
    action_id: str
    queue: str
    customer: Customer
    phone: str
    attempt_no: int
    placed_at: datetime
    answered_at: datetime | None = None
    uniqueid: str = ""


class Dialer:
    """Runs one month's campaign against a PBX."""

    def __init__(
        self,
        engine: AsyncEngine,
        month: str,
        originator: Originator,
        availability: AgentAvailability,
        *,
        clock: Clock,
        settings: DialerSettings | None = None,
        pop_sink: PopSink | None = None,
        calling_hours: Callable[[], CallingHours] | None = None,
        lock: asyncio.Lock | None = None,
    ) -> None:
        """`calling_hours`: routing.toml's hours of the settings' service as they are now
        (:func:`~campaigns.window.calling_hours` of the table in force), asked at each step
        so that a routing reload applies; None: the shipped routing.toml's. `lock`: shared
        by the dialers of overlapping months so that they never count the same free agent
        twice."""
        self.engine = engine
        self.month = month
        self.settings = settings or DialerSettings()
        self.window = campaign_window(month, self.settings.window)
        self.originator = originator
        self.availability = availability
        self.clock = clock
        self.pop_sink = pop_sink
        self.calling_hours = calling_hours or functools.partial(
            shipped_calling_hours, self.settings.service
        )
        self.action_prefix = f"cc-campana-{month}"
        self.placed = 0
        self.done = False
        self.next_due: datetime | None = None
        """After a step: when a call may next become possible without any event (the next
        opening of calling hours, or the first retry); None when only an event can help."""
        self._out: dict[int, _Out] = {}
        self._by_uniqueid: dict[str, int] = {}
        self._lock = lock or asyncio.Lock()
        self._wake = asyncio.Event()
        self._recovered = False
        self._campaign_id: int | None = None
        self._customers: list[Customer] = []

    # ------------------------------------------------------------------ queries
    def calls_out(self, queue: str | None = None) -> int:
        """Calls placed and not yet with an agent (ringing, or answered and queued)."""
        return sum(1 for o in self._out.values() if queue is None or o.queue == queue)

    def wake(self) -> None:
        """Ask for a step soon (an agent became free, a result arrived)."""
        self._wake.set()

    @property
    def hours(self) -> CallingHours:
        """The calling hours in force (routing.toml's, as reloaded)."""
        return self.calling_hours()

    def may_call(self, moment: datetime) -> bool:
        """True when the window and the calling hours in force allow a call at `moment`
        (whether there is anyone to call aside)."""
        return may_call(moment, self.window, self.hours)

    @property
    def idle(self) -> bool:
        """True once recovered, when no step is running and none is asked for (for hosts
        and tests that drive time)."""
        return self._recovered and not self._wake.is_set() and not self._lock.locked()

    # ---------------------------------------------------------------- lifecycle
    async def recover(self) -> None:
        """Load the calls a previous run left out (``placing``) before placing any.

        Results the listener logged while this dialer was not there to see them (the
        ``OriginateResponse`` rows of the event log) are recorded now, with their event
        time, and an answered call's agent from its logged ``AgentConnect``; the calls
        still without a result wait for it, and become ``unknown`` only after
        ``ring_timeout_s + result_grace_s``.
        """
        campaign = await store.get_campaign(self.engine, self.month)
        self._campaign_id = campaign.campaign_id
        state = await store.load_state(self.engine, self.month, rule=self.settings.window)
        customers = {c.contract: c for c in state.customers}
        for contract, tried in state.attempts.items():
            for i, attempt in enumerate(tried):
                if attempt.outcome != PLACING:
                    continue
                queue = self.settings.queues[customers[contract].service]
                self._out[attempt.attempt_id] = _Out(
                    attempt.attempt_id,
                    f"{self.action_prefix}-{attempt.attempt_id}",
                    queue,
                    customers[contract],
                    attempt.phone,
                    len(counted(tried[: i + 1])),
                    attempt.placed_at,
                )
        self._recovered = True
        if self._out:
            log.info("campaign_calls_recovered", month=self.month, calls=len(self._out))
            await self._recover_from_log()
        await self._expire(self.clock())

    async def _recover_from_log(self) -> None:
        since = min(o.placed_at for o in self._out.values()) - LOG_CLOCK_SKEW
        found = await event_log.originate_results(
            self.engine, [o.action_id for o in self._out.values()], since
        )
        for out in list(self._out.values()):
            logged = found.get(out.action_id)
            if logged is None:
                continue
            await self._record(logged.event, logged.at or self.clock(), from_log=True)
            if out.attempt_id not in self._out or not out.uniqueid:
                continue
            agent, at = await event_log.agent_connected(self.engine, out.uniqueid)
            if agent:
                self._out.pop(out.attempt_id, None)
                self._by_uniqueid.pop(out.uniqueid, None)
                await store.add_agent(self.engine, out.attempt_id, agent, at or self.clock())
                log.info("campaign_call_connected", attempt_id=out.attempt_id, agent=agent)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Step until the campaign is finished, its window is over, or `stop` is set."""
        if not self._recovered:
            await self.recover()
        while stop is None or not stop.is_set():
            await self.step()
            if self.done:
                log.info("campaign_finished", month=self.month, placed=self.placed)
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_s)
            self._wake.clear()

    async def set_paused(self, paused: bool) -> None:
        """Pause (no new calls; calls out finish and are recorded) or resume."""
        await store.set_status(self.engine, self.month, "paused" if paused else "active")
        log.info("campaign_paused" if paused else "campaign_resumed", month=self.month)
        self.wake()

    # --------------------------------------------------------------------- step
    async def step(self) -> int:
        """Place the calls possible now; return how many were placed."""
        async with self._lock:
            if not self._recovered:
                await self.recover()
            now = self.clock()
            self.next_due = None
            await self._expire(now)
            hours = self.hours
            if window_over(now, self.window, hours):
                self.done = not self._out
                return 0
            if not may_call(now, self.window, hours):
                self.next_due = next_opening(now, self.window, hours)
                return 0
            campaign = await store.get_campaign(self.engine, self.month)
            if campaign.status != "active":
                return 0
            free = {
                queue: max(self.availability.free_agents(queue) - self.calls_out(queue), 0)
                for queue in set(self.settings.queues.values())
            }
            if not any(free.values()) and self._out:
                return 0
            assert self._campaign_id is not None
            if len(self._customers) != await store.count_customers(self.engine, self._campaign_id):
                self._customers = (
                    await store.load_state(self.engine, self.month, rule=self.settings.window)
                ).customers
            state = await store.load_state(
                self.engine, self.month, self._customers, rule=self.settings.window
            )
            out_now = {o.customer.contract for o in self._out.values()}
            calls = plan(
                [c for c in state.customers if c.contract not in out_now],
                state.attempts,
                state.blocklist,
                self.settings.retry,
                now,
                free=free,
                queue_of=self.settings.queues,
            )
            if not calls:
                found = statuses(
                    state.customers, state.attempts, state.blocklist, self.settings.retry, now
                )
                self.done = not self._out and finished(found)
                if any(free.values()):
                    self.next_due = earliest_retry(found)
            placed = 0
            for call in calls:
                placed += await self._place(
                    call.customer, call.phone, call.attempt_no, call.queue, now
                )
            return placed

    async def _place(
        self, customer: Customer, phone: str, attempt_no: int, queue: str, now: datetime
    ) -> bool:
        assert self._campaign_id is not None
        attempt_id, action_id = await store.add_attempt(
            self.engine,
            campaign_id=self._campaign_id,
            contract=customer.contract,
            phone=phone,
            attempt_no=attempt_no,
            queue=queue,
            action_prefix=self.action_prefix,
            placed_at=now,
        )
        out = _Out(attempt_id, action_id, queue, customer, phone, attempt_no, now)
        self._out[attempt_id] = out
        request = OriginateRequest(
            attempt_id=attempt_id,
            action_id=action_id,
            phone=phone,
            channel=self.settings.channel.format(phone=phone, queue=queue),
            context=self.settings.context,
            exten=self.settings.exten.format(phone=phone, queue=queue),
            timeout_s=self.settings.ring_timeout_s,
            caller_id=self.settings.caller_id,
            variables={
                "CC_CAMPAIGN_ATTEMPT": str(attempt_id),
                "CC_CAMPAIGN": self.month,
                "CC_CONTRACT": customer.contract,
                "CC_SERVICE": customer.service,
                "CC_SCRIPT": SCRIPT_ID,
                "CC_QUEUE": queue,
            },
        )
        try:
            await self.originator.originate(request)
        except OriginateError as exc:
            self._out.pop(attempt_id, None)
            await store.add_result(self.engine, attempt_id, "not_sent", self.clock())
            log.warning(
                "campaign_originate_failed",
                attempt_id=attempt_id,
                contract=customer.contract,
                reason=str(exc),
            )
            return False
        self.placed += 1
        log.info(
            "campaign_call_placed",
            attempt_id=attempt_id,
            contract=customer.contract,
            phone=mask_phone(phone),
            queue=queue,
            attempt_no=attempt_no,
        )
        return True

    async def _expire(self, now: datetime) -> None:
        limit = timedelta(seconds=self.settings.ring_timeout_s + self.settings.result_grace_s)
        handoff = timedelta(seconds=self.settings.handoff_s)
        for out in list(self._out.values()):
            if out.answered_at is None and now - out.placed_at > limit:
                self._out.pop(out.attempt_id, None)
                await store.add_result(self.engine, out.attempt_id, "unknown", now)
                log.warning("campaign_call_result_lost", attempt_id=out.attempt_id)
            elif out.answered_at is not None and now - out.answered_at > handoff:
                self._out.pop(out.attempt_id, None)
                self._by_uniqueid.pop(out.uniqueid, None)
                log.warning("campaign_call_not_connected", attempt_id=out.attempt_id)

    # ------------------------------------------------------------------- inputs
    def attempt_of_action(self, action_id: str) -> int | None:
        """Our attempt id for an Originate ActionID, else None."""
        prefix = f"{self.action_prefix}-"
        if not action_id.startswith(prefix) or not action_id[len(prefix) :].isdigit():
            return None
        return int(action_id[len(prefix) :])

    async def on_originate_response(self, event: OriginateResponse) -> None:
        """Record the result of one of our Originates (others are ignored)."""
        if self.attempt_of_action(event.action_id) is None:
            return
        await self._record(event, self.clock())
        self.wake()

    async def _record(
        self, event: OriginateResponse, at: datetime, *, from_log: bool = False
    ) -> None:
        attempt_id = self.attempt_of_action(event.action_id)
        assert attempt_id is not None
        outcome = _outcome(event.response, event.reason)
        written = await store.add_result(
            self.engine,
            attempt_id,
            outcome,
            at,
            reason_code=event.reason,
            uniqueid=event.uniqueid,
            channel=event.channel,
        )
        out = self._out.get(attempt_id)
        log.info(
            "campaign_call_ended" if outcome != "answered" else "campaign_call_answered",
            attempt_id=attempt_id,
            outcome=outcome,
            reason=event.reason,
            late=out is None,
            duplicate=not written,
            from_log=from_log,
        )
        if out is not None:
            if outcome == "answered" and written:
                out.answered_at = at
                out.uniqueid = event.uniqueid
                self._by_uniqueid[event.uniqueid] = attempt_id
            else:
                self._out.pop(attempt_id, None)

    async def on_agent_connected(
        self, agent: str, *, uniqueid: str = "", linkedid: str = "", attempt_id: int | None = None
    ) -> bool:
        """An answered campaign call reached `agent`: record it and pop the customer.

        The call is found by attempt id (``CC_CAMPAIGN_ATTEMPT``), else by the Originate's
        Uniqueid (the queue call's uniqueid or linkedid). Returns False if it is not ours.
        """
        if attempt_id is None:
            attempt_id = self._by_uniqueid.get(uniqueid) or self._by_uniqueid.get(linkedid)
        out = self._out.get(attempt_id) if attempt_id is not None else None
        if out is None or attempt_id is None:
            return False
        self._out.pop(attempt_id, None)
        self._by_uniqueid.pop(out.uniqueid, None)
        await store.add_agent(self.engine, attempt_id, agent, self.clock())
        log.info("campaign_call_connected", attempt_id=attempt_id, agent=agent)
        if self.pop_sink is not None:
            await self.pop_sink(self.pop_for(out, agent))
        self.wake()
        return True

    def pop_for(self, out: _Out, agent: str) -> CampaignPop:
        """The screen-pop of a connected call (Spanish labels are the agent's)."""
        customer = out.customer
        return CampaignPop(
            agent=agent,
            attempt_id=out.attempt_id,
            uniqueid=out.uniqueid,
            month=self.month,
            script_id=SCRIPT_ID,
            fields={
                "contrato": customer.contract,
                "nombre": customer.name,
                "servicio": SERVICE_LABELS[customer.service],
                "vencimiento": customer.due_date.isoformat(),
                "telefono": out.phone,
                "intento": str(out.attempt_no),
            },
        )
