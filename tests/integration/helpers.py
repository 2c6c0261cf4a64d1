"""Shared pieces of the integration tests: the simulator driven over real TCP into a real
``ListenerService`` and a real database, and the comparison of stored call records with the
simulator's ground truth."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.pipeline import EffectSink
from centralita.ami_listener.schema import calls
from centralita.ami_listener.service import AmiSettings, ListenerService
from centralita.ami_listener.store import create_schema, make_engine
from centralita.ami_listener.tracker import CallTracker
from centralita.simulator.config import SimConfig, lab_config
from centralita.simulator.runner import Simulator
from centralita.simulator.truth import Truth, TruthCall

SECRET = "integration-secret"
HIGH_WATER = 1 << 20
WAIT = 120.0  # generous: only ever waited for, never asserted on


@dataclass(frozen=True)
class Row:
    """The columns of a stored call that the truth can be compared with."""

    uniqueid: str
    outcome: str
    wait_ms: int | None
    answered_at_ms: int | None
    agent_interface: str
    service: str
    gap: bool
    resynced: bool


async def fetch_rows(engine: AsyncEngine, pbx_id: str | None = None) -> list[Row]:
    """Every stored call (of one PBX), as :class:`Row`."""
    cols = [calls.c[f] for f in Row.__dataclass_fields__]
    stmt = sa.select(*cols).order_by(calls.c.uniqueid)
    if pbx_id is not None:
        stmt = stmt.where(calls.c.pbx_id == pbx_id)
    async with engine.connect() as conn:
        result = await conn.execute(stmt)
        return [Row(*r) for r in result]


def _same(call: TruthCall, row: Row) -> bool:
    wait = None if row.wait_ms is None else row.wait_ms / 1000
    wait_ok = wait is not None and call.wait_s is not None and abs(wait - call.wait_s) <= 1.0
    return (
        row.outcome == call.outcome
        and wait_ok
        and row.agent_interface == call.agent_interface
        and not row.gap
    )


def _same_lost(call: TruthCall, row: Row) -> bool:
    """A call cut by a PBX reboot: one record, flagged ``gap``, answered iff it was."""
    answered = call.answered_at is not None
    return (
        row.gap
        and (row.answered_at_ms is not None) == answered
        and row.agent_interface == (call.agent_interface if answered else "")
    )


def truth_mismatches(truth: Truth | Iterable[TruthCall], rows: list[Row]) -> list[str]:
    """Differences between the truth's queue calls and the stored records, call by call.

    Every queue call must have exactly one record (nothing lost, nothing doubled) and no
    record may exist without a call. A call the truth marks ``lost`` (in progress when
    the PBX rebooted) must be stored flagged ``gap``; every other call must match on
    outcome, wait (within 1 s) and agent, and must not be flagged ``gap``.
    """
    wanted = truth.queue_calls() if isinstance(truth, Truth) else list(truth)
    by_uid: dict[str, list[Row]] = {}
    for row in rows:
        by_uid.setdefault(row.uniqueid, []).append(row)
    bad: list[str] = []
    for call in wanted:
        found = by_uid.pop(call.uniqueid, [])
        if len(found) != 1:
            bad.append(f"{call.uniqueid}: {len(found)} records (truth {call.outcome})")
            continue
        row = found[0]
        ok = _same_lost(call, row) if call.lost else _same(call, row)
        if not ok:
            bad.append(
                f"{call.uniqueid}: truth {call.outcome} {call.wait_s} {call.agent_interface!r}"
                f" lost={call.lost} / stored {row.outcome} {row.wait_ms} "
                f"{row.agent_interface!r} gap={row.gap}"
            )
    bad.extend(f"{uid}: stored but not in the truth" for uid in by_uid)
    return bad


def listener_for(
    port: int,
    engine: AsyncEngine,
    pbx_id: str = "sim",
    sinks: Iterable[EffectSink] = (),
    **kwargs: Any,
) -> ListenerService:
    """A listener with fast reconnects, as the daemon builds it."""
    ami = AmiSettings(
        port=port,
        secret=SECRET,
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
        ping_interval_s=30.0,
        ping_timeout_s=30.0,
    )
    kwargs.setdefault("flush_interval_s", 0.05)
    return ListenerService(ami, engine, CallTracker(pbx_id), sinks, **kwargs)


@contextlib.asynccontextmanager
async def running(service: ListenerService) -> AsyncIterator[ListenerService]:
    """Run the listener as a task; logged in (and resynchronised) on entry."""
    task = asyncio.create_task(service.run())
    try:
        await until(lambda: service.pipeline.stats.resyncs >= 1, what="first login and resync")
        yield service
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def database(url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on ``url`` with the ingest tables."""
    engine = make_engine(url)
    await create_schema(engine)
    try:
        yield engine
    finally:
        await engine.dispose()


async def until(
    predicate: Callable[[], bool], *, what: str = "condition", timeout_s: float = WAIT
) -> None:
    """Poll ``predicate`` until true; fail with ``what`` after a generous timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def drive(sim: Simulator, stop: Callable[[], bool] | None = None) -> None:
    """Advance the simulator as fast as possible (as ``Simulator.run(speed=None)`` does)
    until its calls are over or ``stop()`` is true, with the same back-pressure."""
    engine = sim.engine
    steps = 0
    while not engine.done and not (stop is not None and stop()):
        nxt = engine.next_time()
        if nxt is None:
            break
        engine.advance(nxt)
        sim.flush()
        steps += 1
        if steps % 200 == 0 or sim.server.max_backlog > HIGH_WATER:
            await asyncio.sleep(0)
            while sim.server.max_backlog > HIGH_WATER:  # socket buffers have no event
                await asyncio.sleep(0.005)
    sim.flush()


async def settle(service: ListenerService) -> None:
    """Everything the PBX sent so far is received, processed and stored.

    A Ping's response comes after every event sent before it on the same connection, so
    once it is answered the consumer has all of them; then the writer is drained.
    """
    await service.client.send({"Action": "Ping"}, timeout_s=WAIT)
    await service.drain(timeout_s=WAIT)


async def relogged(service: ListenerService, logins_before: int, resyncs_before: int) -> None:
    """Wait for a new login and for its QueueStatus resync to be applied."""
    await until(
        lambda: (
            service.client.stats.logins > logins_before
            and service.pipeline.stats.resyncs > resyncs_before
        ),
        what="reconnection and resync",
    )


def next_config(truth: Truth, calls_: int, dialect: str = "12") -> SimConfig:
    """A small lab run that starts after ``truth``'s last event (no uniqueid reuse)."""
    last = max((c.ended_at or c.arrived_at for c in truth.calls), default=0.0)
    base = lab_config(calls=calls_, dialect=dialect)  # type: ignore[arg-type]
    return msgspec.structs.replace(base, start_epoch=float(int(last) + 3600))


async def still_ingesting(
    service: ListenerService, previous: Simulator, *, calls_: int = 20, seed: int = 99
) -> None:
    """The PBX is replaced by a fresh one on the same port: the listener reconnects and
    the new calls are stored and match their truth (the old records stay as they were)."""
    before = await fetch_rows(service.engine, service.tracker.pbx_id)
    port = previous.port
    await previous.close()
    logins, resyncs = service.client.stats.logins, service.pipeline.stats.resyncs
    config = next_config(previous.truth, calls_, previous.truth.dialect)
    async with Simulator(config, seed=seed, speed=None, secret=SECRET, port=port) as sim:
        await relogged(service, logins, resyncs)
        await drive(sim)
        await settle(service)
        rows = await fetch_rows(service.engine, service.tracker.pbx_id)
    later = {c.uniqueid for c in sim.truth.queue_calls()}
    assert len(later) == calls_
    assert truth_mismatches(sim.truth, [r for r in rows if r.uniqueid in later]) == []
    assert [r for r in rows if r.uniqueid not in later] == before
