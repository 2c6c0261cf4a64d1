"""Runs the engine against the wall clock and serves it over AMI: the :class:`Simulator`.

Modes: ``speed=1.0`` real time, ``speed=100`` a hundred times faster, ``speed=None`` as
fast as possible (the virtual clock jumps from one happening to the next; the run waits
for slow clients to drain, dropping a stalled one after its write timeout, and for
outstanding FastAGI sessions).

Usage::

    async with Simulator(lab_config(calls=200), seed=1, speed=None, secret="s") as sim:
        port = sim.port                      # connect the daemon here
        truth = await sim.run()              # until the 200 calls are over
        sim.engine.queue_log                 # queue_log lines; sim.write_queue_log(path)

Fault hooks: :meth:`drop_clients`, :meth:`restart` (a PBX reboot), :meth:`pause_events`
/ :meth:`resume_events`.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

import structlog

from simulator.agi import run_session
from simulator.config import SimConfig
from simulator.dialect import Headers
from simulator.model import AgiRequest, Engine
from simulator.server import AmiServer
from simulator.truth import Truth

log = structlog.get_logger(__name__)

HIGH_WATER_BYTES = 1 << 20
_BATCH_STEPS = 200


class Simulator:
    """An AMI-speaking PBX on a TCP port; see the module docstring."""

    def __init__(
        self,
        config: SimConfig,
        seed: int,
        *,
        speed: float | None = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "centralita",
        secret: str = "",
        agi_address: tuple[str, int] | None = None,
        write_timeout_s: float = 5.0,
        max_buffer_bytes: int = 16 << 20,
    ) -> None:
        self.engine = Engine(config, seed, agi=agi_address is not None)
        self.speed = speed
        self.agi_address = agi_address
        self.server = AmiServer(
            self,
            host=host,
            port=port,
            username=username,
            secret=secret,
            write_timeout_s=write_timeout_s,
            max_buffer_bytes=max_buffer_bytes,
        )
        self._high_water = min(HIGH_WATER_BYTES, max_buffer_bytes // 4)
        self._events_paused = False
        self._held: list[Headers] = []
        self._wake = asyncio.Event()
        self._stop = False
        self._agi_tasks: set[asyncio.Task[None]] = set()
        self._w0 = 0.0
        self._v0 = self.engine.now
        self._started = False

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Start the AMI server (events before the first client are not replayed)."""
        self._w0 = asyncio.get_running_loop().time()
        self._v0 = self.engine.now
        self._started = True
        await self.server.start()

    async def close(self) -> None:
        """Stop the run and the server."""
        self._stop = True
        self._wake.set()
        for task in list(self._agi_tasks):
            task.cancel()
        await self.server.close()

    @property
    def port(self) -> int:
        """The AMI port."""
        return self.server.port

    @property
    def truth(self) -> Truth:
        """The ground truth so far."""
        return self.engine.truth

    def write_queue_log(self, path: str) -> None:
        """Write the queue_log so far."""
        self.engine.write_queue_log(path)

    # ------------------------------------------------------------------ clock
    def virtual_now(self) -> float:
        """The virtual time now (the engine's own time when running as fast as possible)."""
        if self.speed is None or not self._started:
            return self.engine.now
        elapsed = asyncio.get_running_loop().time() - self._w0
        return max(self.engine.now, self._v0 + elapsed * self.speed)

    def sync(self) -> None:
        """Bring the engine to the current virtual time (before an AMI action)."""
        if self.speed is not None:
            self.engine.advance(self.virtual_now())
        self.flush()

    def flush(self) -> None:
        """Broadcast what the engine emitted, unless emission is paused."""
        events = self.engine.drain()
        if self._events_paused:
            self._held.extend(events)
        else:
            self.server.broadcast(events)
        self._start_agi()
        self._wake.set()

    async def wait_for_client(self, timeout_s: float = 30.0) -> None:
        """Wait until one client has logged in."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not any(c.logged_in for c in self.server.clients):
            if loop.time() > deadline:
                raise TimeoutError("no AMI client logged in")
            await asyncio.sleep(0.01)

    async def run(self) -> Truth:
        """Drive the engine until every requested call is over (or :meth:`close`)."""
        if not self._started:
            await self.start()
        self._w0 = asyncio.get_running_loop().time()
        self._v0 = self.engine.now
        engine = self.engine
        steps = 0
        while not engine.done and not self._stop:
            if self.speed is None:
                if self._agi_tasks:
                    await asyncio.wait(self._agi_tasks, return_when=asyncio.FIRST_COMPLETED)
                    continue
                nxt = engine.next_time()
                if nxt is None:
                    break
                engine.advance(nxt)
                self.flush()
                steps += 1
                if steps % _BATCH_STEPS == 0 or self.server.max_backlog > self._high_water:
                    await self._backpressure()
            else:
                nxt = engine.next_time()
                now = self.virtual_now()
                if nxt is None or nxt > now:
                    delay = 1.0 if nxt is None else (nxt - now) / self.speed
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), min(max(delay, 0.0), 1.0))
                engine.advance(self.virtual_now())
                self.flush()
        self.flush()
        log.info(
            "simulation_finished", calls=len(engine.truth.calls), **engine.truth.outcome_counts()
        )
        return engine.truth

    async def _backpressure(self) -> None:
        await asyncio.sleep(0)
        while self.server.max_backlog > self._high_water and not self._stop:  # noqa: ASYNC110 - polls socket buffers, which have no event
            await asyncio.sleep(0.005)

    # ------------------------------------------------------------------ AGI
    def _start_agi(self) -> None:
        if self.agi_address is None or not self.engine.agi_requests:
            return
        requests, self.engine.agi_requests = self.engine.agi_requests, []
        for req in requests:
            task = asyncio.ensure_future(self._agi(req))
            self._agi_tasks.add(task)
            task.add_done_callback(self._agi_tasks.discard)

    async def _agi(self, req: AgiRequest) -> None:
        assert self.agi_address is not None
        host, port = self.agi_address

        def user_event(name: str, fields: list[tuple[str, str]]) -> None:
            self.sync()
            self.engine.user_event(req.uniqueid, name, fields)
            self.flush()

        result = await run_session(host, port, req, user_event)
        self.sync()
        self.engine.agi_finished(req.uniqueid, result)
        self.flush()

    # ------------------------------------------------------------------ faults
    def drop_clients(self) -> None:
        """Close every AMI connection now."""
        self.server.drop_all("fault_injected")

    def restart(self) -> None:
        """A PBX reboot: clients dropped, calls in progress lost (in the truth)."""
        self.sync()
        self.server.drop_all("pbx_restart")
        self._held.clear()
        self.engine.restart()
        self.engine.drain()
        self._wake.set()

    def pause_events(self) -> None:
        """Hold events back (the engine keeps running)."""
        self._events_paused = True

    def resume_events(self) -> None:
        """Send the held events, in order, and go on."""
        self._events_paused = False
        held, self._held = self._held, []
        self.server.broadcast(held)
        self.flush()
