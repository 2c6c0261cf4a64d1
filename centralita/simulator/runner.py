"""Runs the engine against the wall clock and serves it over AMI: the :class:`Simulator`.

Modes: ``speed=1.0`` real time, ``speed=100`` a hundred times faster, ``speed=None`` as
fast as possible (the virtual clock jumps from one happening to the next; the run waits
for slow clients to drain, dropping a stalled one after its write timeout, and for
outstanding FastAGI sessions).

With ``speed`` the PBX's clock follows the wall clock, so what happens depends on how
fast the machine and the clients are (an AGI session that takes 50 ms is 3 s of PBX time
at ``speed=60``). ``speed=None, pace=60`` is a *paced* run: exactly the event stream of
``speed=None`` (a function of the seed and of what the clients answer, never of the wall
clock), each happening played no earlier than ``1/pace`` of its PBX time after the start
(a live view for people; :meth:`Simulator.clock` is the PBX's clock between happenings).

Usage::

    async with Simulator(lab_config(calls=200), seed=1, speed=None, secret="s",
                         queue_log_path=tmp / "queue_log") as sim:
        port = sim.port                      # connect the daemon here
        truth = await sim.run()              # until the 200 calls are over
        sim.engine.queue_log                 # queue_log lines (also in the file, live)

The PBX is independent of its AMI clients, as a real one is: the engine runs whether or
not a client is connected, and events go only to the clients logged in at that moment
(nothing is replayed). With ``speed=None`` a test moves the PBX explicitly:

- ``await sim.advance(seconds)`` / ``await sim.advance_until(pred)``: run the PBX for that
  much of its own time (callers join, are answered, hang up), connected or not;
- ``sim.drop_clients()``: close every AMI connection now;
- ``await sim.refuse_logins(mode)`` / ``await sim.accept_logins()``: refuse new AMI
  connections (``refuse``: port closed; ``silent``: connects, never answers) and accept
  again on the same port; ``cut_network()`` / ``restore_network()`` = drop + refuse /
  accept (a network cut);
- ``sim.restart()``: a reboot (calls in progress vanish, truth ``lost``);
  ``await sim.restart_now()``: ``core restart now`` (every call hung up with its events
  and queue_log lines first); ``sim.crash()``: the process dies (connections reset,
  calls in progress vanish, truth ``cut``); after each the PBX is back at once (or
  ``down_s`` of PBX time later) with a new start time;
- ``sim.rotate_queue_log()`` / ``sim.truncate_queue_log()``: logrotate (rename) and
  copytruncate of the live queue_log file;
- ``sim.pause_events()`` / ``sim.resume_events()``: hold events back, then send them.

Closing writes every byte still queued for a connected client (bounded by
``flush_timeout_s``) before the connections close.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TextIO

import structlog

from centralita.simulator.agi import run_session
from centralita.simulator.config import SimConfig
from centralita.simulator.dialect import Headers
from centralita.simulator.exceptions import SimulatorError
from centralita.simulator.model import AgiRequest, Engine
from centralita.simulator.server import AmiServer
from centralita.simulator.truth import Truth

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
        flush_timeout_s: float = 10.0,
        queue_log_path: str | Path | None = None,
        pace: float | None = None,
    ) -> None:
        if pace is not None and (speed is not None or not pace > 0):
            raise SimulatorError("pace needs speed=None and a positive number")
        self.engine = Engine(config, seed, agi=agi_address is not None)
        self.queue_log_path = None if queue_log_path is None else Path(queue_log_path)
        self._qlog_file: TextIO | None = None
        self.speed = speed
        self.pace = pace
        self.agi_address = agi_address
        self.server = AmiServer(
            self,
            host=host,
            port=port,
            username=username,
            secret=secret,
            write_timeout_s=write_timeout_s,
            max_buffer_bytes=max_buffer_bytes,
            flush_timeout_s=flush_timeout_s,
        )
        self._high_water = min(HIGH_WATER_BYTES, max_buffer_bytes // 4)
        self._events_paused = False
        self._held: list[Headers] = []
        self._wake = asyncio.Event()
        self._stop = False
        self._stopping = asyncio.Event()
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
        """Start the AMI server (events before the first client are not replayed) and,
        with ``queue_log_path``, the live queue_log file (the lines so far first)."""
        self._w0 = asyncio.get_running_loop().time()
        self._v0 = self.engine.now
        self._started = True
        if self.queue_log_path is not None and self._qlog_file is None:
            self._open_queue_log()
            for line in self.engine.queue_log:
                self._write_queue_log_line(line)
            self.engine.queue_log_sink = self._write_queue_log_line
        await self.server.start()

    async def close(self) -> None:
        """Stop the run; write what connected clients still have queued (bounded by
        ``flush_timeout_s``), then close them and the server, and the queue_log file."""
        self._stop = True
        self._stopping.set()
        self._wake.set()
        self.flush()
        for task in list(self._agi_tasks):
            task.cancel()
        await self.server.close()
        self.engine.queue_log_sink = None
        if self._qlog_file is not None:
            self._qlog_file.close()
            self._qlog_file = None

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

    # ------------------------------------------------------------------ live queue_log
    def _open_queue_log(self) -> None:
        assert self.queue_log_path is not None
        self._qlog_file = self.queue_log_path.open("a", encoding="utf-8", newline="\n")

    def _write_queue_log_line(self, line: str) -> None:
        """Append one line and flush it, as Asterisk's logger does for each event."""
        if self._qlog_file is not None:
            self._qlog_file.write(line + "\n")
            self._qlog_file.flush()

    def _shift_rotated(self) -> Path:
        """Make room for ``<path>.1`` as logrotate does (``.1`` → ``.2`` ...); return it."""
        path = self._live_queue_log()
        n = 1
        while Path(f"{path}.{n}").exists():
            n += 1
        for k in range(n - 1, 0, -1):
            os.replace(f"{path}.{k}", f"{path}.{k + 1}")
        return Path(f"{path}.1")

    def _live_queue_log(self) -> Path:
        if self.queue_log_path is None or self._qlog_file is None:
            raise SimulatorError("no live queue_log file (queue_log_path, after start)")
        return self.queue_log_path

    def rotate_queue_log(self) -> Path:
        """logrotate's default: the file is renamed ``<path>.1`` (older ones shifted) and
        a new, empty file is started at ``<path>`` (as after Asterisk's ``logger
        reload``). Returns the rotated file's path."""
        path = self._live_queue_log()
        rotated = self._shift_rotated()
        assert self._qlog_file is not None
        self._qlog_file.close()
        os.replace(path, rotated)
        self._open_queue_log()
        return rotated

    def truncate_queue_log(self) -> Path:
        """logrotate's ``copytruncate``: the file is copied to ``<path>.1`` (older ones
        shifted) and truncated in place; the PBX keeps appending to the same file (same
        inode, offset back to 0). Returns the copy's path."""
        path = self._live_queue_log()
        rotated = self._shift_rotated()
        rotated.write_bytes(path.read_bytes())
        os.truncate(path, 0)
        return rotated

    # ------------------------------------------------------------------ clock
    def virtual_now(self) -> float:
        """The virtual time now (the engine's own time when running as fast as possible)."""
        if self.speed is None or not self._started:
            return self.engine.now
        elapsed = asyncio.get_running_loop().time() - self._w0
        return max(self.engine.now, self._v0 + elapsed * self.speed)

    def clock(self) -> float:
        """The PBX's clock for people (a wallboard): :meth:`virtual_now`, except in a paced
        run, where it moves with the wall clock at ``pace`` between two happenings (never
        past the next one). It never changes what the PBX does."""
        if self.pace is None or not self._started:
            return self.virtual_now()
        engine = self.engine
        paced = self._v0 + (asyncio.get_running_loop().time() - self._w0) * self.pace
        nxt = engine.next_time()
        return max(engine.now, paced if nxt is None else min(paced, nxt))

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
        if self.speed is None:
            await self._drive(None, None)
        else:
            while not engine.done and not self._stop:
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

    async def advance(self, seconds: float) -> None:
        """Run the PBX for ``seconds`` of its own time (``speed=None`` only), whether or
        not an AMI client is connected: callers keep arriving (up to ``calls``), being
        answered and hanging up; each event goes to the clients logged in when it
        happens (nothing is kept for later ones). The clock ends at now + ``seconds``.
        Waits for slow clients as :meth:`run` does."""
        if seconds < 0:
            raise SimulatorError("advance: seconds must be >= 0")
        await self._drive(self._fast().engine.now + seconds, None)

    async def advance_until(
        self, predicate: Callable[[], bool], *, max_seconds: float | None = None
    ) -> bool:
        """Run the PBX (``speed=None`` only) until ``predicate()`` is true (checked after
        every happening), for at most ``max_seconds`` of its time when given, else until
        the requested calls are over. Returns the predicate's last value."""
        engine = self._fast().engine
        until = None if max_seconds is None else engine.now + max_seconds
        await self._drive(until, predicate)
        return predicate()

    def _fast(self) -> Simulator:
        if self.speed is not None:
            raise SimulatorError("advance needs speed=None (the virtual clock jumps)")
        return self

    async def _drive(self, until: float | None, stop: Callable[[], bool] | None) -> None:
        """Step the engine happening by happening, flushing events after each step, with
        back-pressure from slow clients: up to ``until`` (the clock then ends there), or
        while calls remain when ``until`` is None; ``stop`` ends it early."""
        if not self._started:
            await self.start()
        engine = self.engine
        steps = 0
        while not self._stop and not (stop is not None and stop()):
            if self._agi_tasks:
                await asyncio.wait(self._agi_tasks, return_when=asyncio.FIRST_COMPLETED)
                continue
            nxt = engine.next_time()
            if nxt is None or (until is None and engine.done):
                break
            if until is not None and nxt > until:
                break
            if self.pace is not None:
                await self._wait_paced(nxt)
                if self._stopping.is_set():  # closed while waiting
                    break
            engine.advance(nxt)
            self.flush()
            steps += 1
            if steps % _BATCH_STEPS == 0 or self.server.max_backlog > self._high_water:
                await self._backpressure()
        if until is not None and not self._stop and not (stop is not None and stop()):
            engine.advance(until)
        self.flush()
        await asyncio.sleep(0)

    async def _wait_paced(self, at: float) -> None:
        """Wait until the wall-clock moment of PBX time ``at`` in a paced run. A run that
        fell behind (a slow machine) is re-anchored instead of rushing to catch up."""
        assert self.pace is not None
        loop = asyncio.get_running_loop()
        delay = self._w0 + (at - self._v0) / self.pace - loop.time()
        if delay < -1.0:
            self._w0 -= delay
        elif delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

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
        """Close every AMI connection now (the PBX goes on; clients may log in again)."""
        self.server.drop_all("fault_injected")

    async def refuse_logins(self, mode: str = "refuse") -> None:
        """Refuse new AMI connections until :meth:`accept_logins`; connected clients are
        untouched. ``refuse``: the port is closed (connection refused); ``silent``: the
        TCP connect succeeds but nothing is ever answered, not even the banner (a cut
        network path: the client's own timeouts must fire)."""
        await self.server.refuse(mode)

    async def accept_logins(self) -> None:
        """Accept AMI connections again, on the same port (mute ones are reset)."""
        await self.server.accept()

    async def cut_network(self, mode: str = "refuse") -> None:
        """A network cut: every AMI connection dropped and new ones refused."""
        self.drop_clients()
        await self.refuse_logins(mode)

    async def restore_network(self) -> None:
        """The network is back: connections accepted again."""
        await self.accept_logins()

    def restart(self, down_s: float = 0.0) -> None:
        """A PBX reboot. Events already emitted go out first; then every AMI connection
        is closed and the calls in progress vanish with no event and no queue_log end
        line (truth: ``lost``; see :meth:`Engine.restart`); queue_log gets QUEUESTART.
        The PBX is back at once, ``down_s`` of its time later (at least the next whole
        second), and new sessions get FullyBooted with an Uptime from that start."""
        self.sync()
        self.server.drop_all("pbx_restart")
        self._held.clear()
        self.engine.restart(down_s)
        self.engine.drain()
        self._wake.set()

    async def restart_now(self, down_s: float = 0.0) -> None:
        """``core restart now``: every channel is hung up first, with its events and
        queue_log lines (see :meth:`Engine.hang_up_all`), those events are written to the
        connected clients (bounded wait), then the connections close and the PBX boots
        as in :meth:`restart` (no call is left to be ``lost``)."""
        self.sync()
        self.engine.hang_up_all()
        self.flush()
        if self._events_paused:
            self.resume_events()
        clients = list(self.server.clients)
        timeout = self.server.flush_timeout_s
        await asyncio.gather(*(c.finish("pbx_restart", timeout) for c in clients))
        self.restart(down_s)

    def crash(self, down_s: float = 0.0) -> None:
        """The PBX process dies: every AMI connection is reset (bytes still queued for a
        client are lost), FastAGI sessions end, events held by :meth:`pause_events` are
        lost, and the calls in progress vanish with no event and no queue_log line
        (truth: ``cut``; see :meth:`Engine.crash`). It is started again at once (or
        ``down_s`` of its time later): queue_log QUEUESTART, new start time for
        FullyBooted. Combine with :meth:`refuse_logins` to keep it unreachable."""
        if self.speed is not None:
            self.engine.advance(self.virtual_now())
        self.server.drop_all("pbx_crash", abort=True)
        self._held.clear()
        self.engine.drain()
        for task in list(self._agi_tasks):
            task.cancel()
        self.engine.crash(down_s)
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
