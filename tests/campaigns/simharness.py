"""The campaign against the simulator over real TCP, in the simulator's virtual time.

Real pieces: :class:`simulator.runner.Simulator` (AMI server, PBX model, queue_log, truth),
``ListenerService`` (AMI client, pipeline, tracker, event log writer) and what
:func:`campaigns.hosting.build` returns (``CampaignSink`` + ``Dialer`` + ``AmiOriginator``).
The dialer's clock is the simulator's virtual clock.

The simulator runs "as fast as possible" (``speed=None``) but is not left to run by
itself: :class:`Driver` moves the virtual clock from one happening to the next (the PBX's
next event, the dialer's next due time, at most ``idle_s`` later), and before each move
waits until everything the PBX sent so far has been read, decoded, handed to the sink and
processed by the dialer (an AMI Ping round trip, then the listener's queue, the sink and
the dialer idle). So virtual days pass in seconds and nothing depends on wall time.

:class:`OriginateProbe` records, at the moment the simulator receives each Originate, what
the simulator itself knows: its virtual time, the campaign queue's free members, the calls
already out (originates without response + answered calls waiting in the queue) and the
phones that are ringing or on a call.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.events import AmiEvent, OriginateResponse
from centralita.ami_listener.service import AmiSettings, ListenerService
from centralita.ami_listener.tracker import CallTracker, Effect
from centralita.campaigns.dialer import DEFAULT_QUEUE, Dialer, DialerSettings
from centralita.campaigns.hosting import DeferredSender, build
from centralita.campaigns.sinks import CampaignSink
from centralita.campaigns.window import CallingHours
from centralita.simulator.config import (
    AgentConfig,
    Behaviour,
    OriginateConfig,
    PatienceClass,
    QueueConfig,
    SimConfig,
)
from centralita.simulator.model import Engine
from centralita.simulator.runner import Simulator
from centralita.simulator.truth import OriginateTruth

SECRET = "campaign-test"
AGENTS = tuple(f"Local/prepago{i}@lab-agents" for i in range(1, 5))


def sim_config(
    start: datetime,
    *,
    agents: int = 4,
    talk_s: tuple[float, float] = (900.0, 1500.0),
    **originate: float,
) -> SimConfig:
    """The campaign queue with `agents` members, no inbound traffic, long talks."""
    return SimConfig(
        queues=(QueueConfig(name=DEFAULT_QUEUE, strategy="leastrecent", max_wait_s=900.0),),
        agents=tuple(
            AgentConfig(name=f"Agente {i}", interface=AGENTS[i - 1], queues=(DEFAULT_QUEUE,))
            for i in range(1, agents + 1)
        ),
        services=(),
        behaviour=Behaviour(
            talk_min_s=talk_s[0],
            talk_max_s=talk_s[1],
            pause_mean_interval_s=5400.0,
            pause_min_s=60.0,
            pause_max_s=300.0,
            patience=(PatienceClass(name="customer", weight=1.0, min_s=900.0, max_s=1200.0),),
        ),
        originate=OriginateConfig(**originate),
        start_epoch=start.timestamp(),
        noise=False,
    )


def sim_clock(sim: Simulator) -> datetime:
    """The simulator's virtual time as an aware datetime."""
    return datetime.fromtimestamp(sim.virtual_now(), UTC)


@dataclass(frozen=True)
class Seen:
    """One Originate as the simulator received it."""

    at: datetime
    action_id: str
    phone: str
    free: int
    out_before: int
    busy_phones: frozenset[str]


def phone_of(channel: str) -> str:
    """``Local/70001000@from-internal`` → ``70001000``."""
    return channel.partition("/")[2].partition("@")[0]


class OriginateProbe:
    """Wraps the simulator engine's ``originate`` to record its own state at each call."""

    def __init__(self, engine: Engine, queue: str = DEFAULT_QUEUE) -> None:
        self.engine = engine
        self.queue = queue
        self.seen: list[Seen] = []
        self._originate = engine.originate
        engine.originate = self._wrapped  # type: ignore[method-assign]

    def _busy_phones(self) -> frozenset[str]:
        active = {c.chan.uniqueid for c in self.engine.active.values()}
        return frozenset(
            phone_of(o.channel)
            for o in self.engine.truth.originates
            if o.outcome == "pending" or (o.uniqueid and o.uniqueid in active)
        )

    def _wrapped(self, action_id: str, **kw: Any) -> OriginateTruth:
        engine = self.engine
        qs = engine.queues[self.queue]
        free = sum(1 for m in qs.members if not m.paused and m.agent.free)
        pending = sum(1 for o in engine.truth.originates if o.outcome == "pending")
        self.seen.append(
            Seen(
                at=datetime.fromtimestamp(engine.now, UTC),
                action_id=action_id,
                phone=phone_of(kw["channel"]),
                free=free,
                out_before=pending + len(qs.waiting),
                busy_phones=self._busy_phones(),
            )
        )
        return self._originate(action_id, **kw)


class ResponseRecorder:
    """An extra sink: every OriginateResponse the listener decoded (action id → event)."""

    def __init__(self) -> None:
        self.responses: dict[str, list[OriginateResponse]] = {}

    def handle(self, effect: Effect) -> None:
        del effect

    def handle_event(self, event: AmiEvent) -> None:
        if isinstance(event, OriginateResponse):
            self.responses.setdefault(event.action_id, []).append(event)


@dataclass
class Host:
    """One run of the campaign host (a daemon's life): listener + sink + dialer."""

    listener: ListenerService
    sink: CampaignSink
    stop: asyncio.Event
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    @property
    def dialer(self) -> Dialer:
        return self.sink.dialer

    async def crash(self) -> None:
        """Stop abruptly (everything cancelled, as when the process is killed)."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def shutdown(self) -> None:
        """Stop cleanly (as on SIGTERM): stop set, listener drained, then cancelled."""
        self.stop.set()
        await asyncio.gather(*self.tasks[1:], return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await self.listener.drain(timeout_s=10)
        await self.crash()


async def start_host(
    sim: Simulator,
    engine: AsyncEngine,
    month: str,
    settings: DialerSettings,
    *,
    extra_sinks: tuple[Any, ...] = (),
    pbx_id: str = "sim",
    hours: CallingHours | None = None,
) -> Host:
    """Connect a new listener + campaign to the simulator; return once it is synced."""
    stop = asyncio.Event()
    sender = DeferredSender()
    sinks, coroutines = build(
        engine,
        sender,
        month,
        settings,
        lambda: sim_clock(sim),
        stop=stop,
        calling_hours=None if hours is None else (lambda: hours),
    )
    ami = AmiSettings(
        host="127.0.0.1",
        port=sim.port,
        secret=SECRET,
        ping_interval_s=3600.0,
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
    )
    listener = ListenerService(ami, engine, CallTracker(pbx_id), [*sinks, *extra_sinks])
    sender.bind(listener.client)
    sink = sinks[0]
    assert isinstance(sink, CampaignSink)
    host = Host(listener, sink, stop)
    host.tasks.append(asyncio.create_task(listener.run()))
    host.tasks += [asyncio.create_task(c) for c in coroutines]
    await asyncio.wait_for(listener.client.logged_in.wait(), 10)
    return host


class Driver:
    """Moves the simulator's virtual clock; the host's dialer reacts in between."""

    def __init__(self, sim: Simulator, host: Host, idle_s: float = 900.0) -> None:
        self.sim = sim
        self.host = host
        self.idle_s = idle_s
        self.moves = 0

    @property
    def now(self) -> datetime:
        return sim_clock(self.sim)

    async def settle(self) -> None:
        """Until everything sent so far is processed and the dialer has nothing to do."""
        host = self.host
        while True:
            await host.listener.client.send({"Action": "Ping"})
            quiet = True
            while not host.listener.queue.empty():
                quiet = False
                await asyncio.sleep(0)
            if not host.sink.idle:
                quiet = False
                await host.sink.wait_idle()
            while not host.dialer.idle and not host.dialer.done:
                quiet = False
                await asyncio.sleep(0.001)
            if quiet:
                return

    async def run_until(self, until: datetime) -> None:
        """Advance to `until`, or until the campaign is over."""
        engine = self.sim.engine
        end = until.timestamp()
        await self.settle()
        while engine.now < end and not self.host.dialer.done:
            now = engine.now
            timed = [now + self.idle_s, end]
            due = self.host.dialer.next_due
            if due is not None and due.timestamp() > now:
                timed.append(due.timestamp())
            nxt = engine.next_time()
            target = max(min([*timed, *([nxt] if nxt is not None else [])]), now)
            engine.advance(target)
            self.sim.flush()
            self.moves += 1
            if target in timed:
                self.host.dialer.wake()
            await self.settle()

    async def step_until(self, condition: Any, limit: timedelta) -> None:
        """Advance one happening at a time until `condition()` holds (at most `limit`)."""
        end = self.sim.engine.now + limit.total_seconds()
        while not condition():
            nxt = self.sim.engine.next_time()
            assert nxt is not None and nxt <= end, "condition never met"
            self.sim.engine.advance(nxt)
            self.sim.flush()
            await self.settle()
