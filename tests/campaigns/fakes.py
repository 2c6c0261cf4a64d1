"""Behavioural fakes for the dialer: a virtual clock and an in-process PBX.

The fake PBX answers Originates after a ring time according to a per-phone script,
puts answered calls into the campaign queue, hands them to a free agent, keeps the agent
busy for a talk time, and checks the dialer's promise at every Originate: calls out
(ringing or queued) never exceed the free agents, and no call outside window and hours.
"""

from __future__ import annotations

import functools
import heapq
import inspect
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from centralita.ami_listener.events import OriginateResponse
from centralita.campaigns.dialer import DEFAULT_QUEUE, Dialer
from centralita.campaigns.ports import OriginateRequest
from centralita.campaigns.window import CallingHours, campaign_window, may_call


@dataclass
class VirtualClock:
    """A clock tests move by hand."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


OUTCOME_REASONS = {"answered": 4, "no_answer": 3, "busy": 5, "failed": 0}


@dataclass
class FakePbx:
    """In-process PBX: Originator + AgentAvailability + event scheduling in virtual time."""

    clock: VirtualClock
    agents: list[str]
    queue: str = DEFAULT_QUEUE
    script: Callable[[str, int], str] = lambda phone, n: "answered"
    ring_s: float = 20.0
    talk_s: float = 240.0
    hours: CallingHours | None = None
    month: str | None = None
    dialer: Dialer | None = None
    fail_sends: bool = False
    requests: list[tuple[datetime, OriginateRequest]] = field(default_factory=list)
    busy: set[str] = field(default_factory=set)
    ringing: set[int] = field(default_factory=set)
    waiting: list[int] = field(default_factory=list)
    _events: list[tuple[datetime, int, Callable[[], object]]] = field(default_factory=list)
    _seq: itertools.count[int] = field(default_factory=itertools.count)
    _tries: dict[str, int] = field(default_factory=dict)
    max_out_seen: int = 0
    violations: list[str] = field(default_factory=list)
    connected: list[tuple[int, str]] = field(default_factory=list)
    active: set[str] = field(default_factory=set)
    reached: set[str] = field(default_factory=set)
    contract_of: dict[int, str] = field(default_factory=dict)
    lose_responses: bool = False

    # AgentAvailability
    def free_agents(self, queue: str) -> int:
        return 0 if queue != self.queue else len(self.agents) - len(self.busy)

    # Originator
    async def originate(self, request: OriginateRequest) -> None:
        from centralita.campaigns.exceptions import OriginateError

        if self.fail_sends:
            raise OriginateError("AMI no conectado")
        now = self.clock()
        if (
            self.hours is not None
            and self.month is not None
            and not may_call(now, campaign_window(self.month), self.hours)
        ):
            self.violations.append(f"call outside window/hours at {now.isoformat()}")
        out = len(self.ringing) + len(self.waiting) + 1
        free = len(self.agents) - len(self.busy)
        if out > free:
            self.violations.append(f"{out} calls out with {free} free agents at {now}")
        self.max_out_seen = max(self.max_out_seen, out)
        contract = request.variables["CC_CONTRACT"]
        if contract in self.active:
            self.violations.append(f"double call to {contract} at {now}")
        if contract in self.reached:
            self.violations.append(f"{contract} called again after being reached, at {now}")
        self.active.add(contract)
        self.contract_of[request.attempt_id] = contract
        self.requests.append((now, request))
        self.ringing.add(request.attempt_id)
        n = self._tries.get(request.phone, 0) + 1
        self._tries[request.phone] = n
        outcome = self.script(request.phone, n)
        self.at(self.ring_s, lambda: self._respond(request, outcome))

    def at(self, delay_s: float, action: Callable[[], object]) -> None:
        when = self.clock() + timedelta(seconds=delay_s)
        heapq.heappush(self._events, (when, next(self._seq), action))

    async def _respond(self, request: OriginateRequest, outcome: str) -> None:
        assert self.dialer is not None
        self.ringing.discard(request.attempt_id)
        event = OriginateResponse(
            action_id=request.action_id,
            response="Success" if outcome == "answered" else "Failure",
            reason=OUTCOME_REASONS[outcome],
            uniqueid=f"sim-{request.attempt_id}",
            channel=f"Local/{request.phone}@x-0001;1",
        )
        contract = self.contract_of[request.attempt_id]
        if outcome == "answered":
            self.waiting.append(request.attempt_id)
            self.reached.add(contract)
        else:
            self.active.discard(contract)
        if self.lose_responses:
            self.active.discard(contract)
            self.waiting = [w for w in self.waiting if w != request.attempt_id]
            return
        await self.dialer.on_originate_response(event)
        await self._dispatch()

    async def _dispatch(self) -> None:
        assert self.dialer is not None
        while self.waiting and len(self.busy) < len(self.agents):
            attempt_id = self.waiting.pop(0)
            agent = next(a for a in self.agents if a not in self.busy)
            self.busy.add(agent)
            self.connected.append((attempt_id, agent))
            await self.dialer.on_agent_connected(agent, uniqueid=f"sim-{attempt_id}")
            self.at(self.talk_s, functools.partial(self._hangup, agent, attempt_id))

    async def _hangup(self, agent: str, attempt_id: int) -> None:
        self.busy.discard(agent)
        self.active.discard(self.contract_of[attempt_id])
        await self._dispatch()

    async def run_due(self) -> None:
        """Run every event due at the clock's time."""
        while self._events and self._events[0][0] <= self.clock():
            _, _, action = heapq.heappop(self._events)
            result = action()
            if inspect.isawaitable(result):
                await result

    def next_event(self) -> datetime | None:
        return self._events[0][0] if self._events else None


async def drive(pbx: FakePbx, dialer: Dialer, until: datetime, idle_s: float = 3600.0) -> None:
    """Move the clock to `until`, jumping to the next thing that can happen: a PBX event,
    the dialer's next due time, or at most `idle_s` later. One dialer step per stop."""
    clock = pbx.clock
    await dialer.step()
    while clock.now < until and not dialer.done:
        candidates = [clock.now + timedelta(seconds=idle_s), until]
        nxt = pbx.next_event()
        if nxt is not None:
            candidates.append(nxt)
        if dialer.next_due is not None and dialer.next_due > clock.now:
            candidates.append(dialer.next_due)
        clock.now = max(min(candidates), clock.now)
        await pbx.run_due()
        await dialer.step()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[arg-type,misc]
