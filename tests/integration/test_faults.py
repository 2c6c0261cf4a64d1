"""Fault suite on the simulator: after each fault the stored call records equal the
ground truth (nothing lost, nothing doubled) and the listener is still ingesting.

Faults: the AMI connection cut mid-call and restored; the PBX rebooted; the database
unavailable for 30 s of PBX time (PostgreSQL refusing connections, SQLite locked by
another writer); the MQTT broker stopped; a burst of 500 calls in one minute.

The simulator runs as fast as possible (``drive``), so "30 s" are 30 s of the PBX's own
clock; nothing here asserts on wall-clock time.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable

import asyncpg
from sqlalchemy.engine import make_url

from centralita.ami_listener.service import ListenerService
from centralita.screenpop.publisher import ScreenPopPublisher
from centralita.simulator.config import lab_config
from centralita.simulator.runner import Simulator
from tests.conftest import PG_HOST, PG_PORT, PG_USER
from tests.integration.conftest import StoppableBroker
from tests.integration.helpers import (
    SECRET,
    database,
    drive,
    fetch_rows,
    listener_for,
    relogged,
    running,
    settle,
    still_ingesting,
    truth_mismatches,
    until,
)


def mid_run(sim: Simulator, calls: int) -> Callable[[], bool]:
    """Stop when ``calls`` calls have arrived and some are talking and some waiting."""
    engine = sim.engine

    def reached() -> bool:
        if engine.generated < calls:
            return False
        states = {c.state for c in engine.active.values()}
        return len(states) >= 2

    return reached


async def test_connection_cut_mid_call_and_restored(sqlite_url: str) -> None:
    async with (
        database(sqlite_url) as engine,
        Simulator(lab_config(calls=300), seed=11, speed=None, secret=SECRET) as sim,
        running(listener_for(sim.port, engine)) as service,
    ):
        await drive(sim, stop=mid_run(sim, 120))
        await settle(service)
        in_progress = set(sim.engine.active)
        assert in_progress
        logins, resyncs = service.client.stats.logins, service.pipeline.stats.resyncs
        sim.drop_clients()
        await relogged(service, logins, resyncs)
        await drive(sim)
        await settle(service)
        rows = await fetch_rows(engine)
        assert truth_mismatches(sim.truth, rows) == []
        assert service.client.stats.disconnects >= 1
        # Calls that spanned the cut were followed to their end.
        spanned = [c for c in sim.truth.queue_calls() if c.uniqueid in in_progress]
        assert spanned
        assert all(r.resynced is False for r in rows)
        await still_ingesting(service, sim)


async def test_pbx_restart(sqlite_url: str) -> None:
    async with (
        database(sqlite_url) as engine,
        Simulator(lab_config(calls=300), seed=12, speed=None, secret=SECRET) as sim,
        running(listener_for(sim.port, engine)) as service,
    ):
        await drive(sim, stop=mid_run(sim, 120))
        await settle(service)
        logins, resyncs = service.client.stats.logins, service.pipeline.stats.resyncs
        sim.restart()
        await relogged(service, logins, resyncs)
        await drive(sim)
        await settle(service)
        truth = sim.truth
        lost = [c for c in truth.queue_calls() if c.lost]
        assert lost, "the reboot should have cut calls in progress"
        assert any(c.answered_at is not None for c in lost)
        assert truth.restarts
        # Calls still open in the listener are the reboot's lost calls not yet swept;
        # the sweep closes a call silent for SETTLE_S, so every one is closed by now.
        assert not service.tracker.calls
        rows = await fetch_rows(engine)
        assert truth_mismatches(truth, rows) == []
        await still_ingesting(service, sim)


def db_failing(service: ListenerService) -> bool:
    """The writer's own view: the last write failed (what /health reports)."""
    return service.db_failing


@contextlib.asynccontextmanager
async def database_down(url: str) -> AsyncIterator[None]:
    """Make the database refuse the listener for the duration of the block.

    PostgreSQL: ``ALLOW_CONNECTIONS false`` and every backend terminated (what a DBA's
    maintenance or a failover looks like from the client). SQLite: another process holds
    the write lock (``BEGIN EXCLUSIVE``), so writes fail with "database is locked".
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        name = parsed.database
        admin = await asyncpg.connect(
            host=PG_HOST, port=PG_PORT, database="test", user=PG_USER or None
        )
        try:
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
            yield
        finally:
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            await admin.close()
        return
    path = parsed.database
    assert path
    locker = await asyncio.to_thread(
        sqlite3.connect, path, timeout=30, isolation_level=None, check_same_thread=False
    )
    try:
        await asyncio.to_thread(locker.execute, "BEGIN EXCLUSIVE")
        yield
        await asyncio.to_thread(locker.execute, "ROLLBACK")
    finally:
        await asyncio.to_thread(locker.close)


async def test_database_unavailable_for_30_s(db_url: str) -> None:
    async with (
        database(db_url) as engine,
        Simulator(lab_config(calls=300), seed=13, speed=None, secret=SECRET) as sim,
        running(listener_for(sim.port, engine, retry_max_s=0.5)) as service,
    ):
        await drive(sim, stop=mid_run(sim, 100))
        await settle(service)
        stored_before = service.writer_stats.calls_written
        async with database_down(db_url):
            down_at = sim.engine.now
            await drive(sim, stop=lambda: sim.engine.now >= down_at + 30)
            await until(lambda: service.writer_stats.failures >= 1, what="a failed write")
            # The PBX goes on for 30 s of its time; the listener keeps reading, buffering.
            await drive(sim, stop=lambda: sim.engine.now >= down_at + 60)
            await until(lambda: service.lag == 0, what="the consumer to keep up")
            assert service.buffered > 0
            assert db_failing(service)
            assert service.pipeline.stats.calls_finished > stored_before
        await drive(sim)
        await settle(service)
        assert not db_failing(service)
        assert service.writer_stats.events_dropped == 0
        rows = await fetch_rows(engine)
        assert truth_mismatches(sim.truth, rows) == []
        await still_ingesting(service, sim)


async def test_broker_stopped(sqlite_url: str, stoppable_broker: StoppableBroker) -> None:
    pbx_id = f"it-{uuid.uuid4().hex[:8]}"
    publisher = ScreenPopPublisher(
        pbx_id,
        stoppable_broker.host,
        stoppable_broker.port,
        backoff_s=(0.05, 0.2),
        publish_timeout_s=2.0,
        pop_max_age_s=3600.0,
        event_max_age_s=3600.0,
        buffer_size=100_000,
    )
    publishing = asyncio.create_task(publisher.run())
    try:
        async with (
            database(sqlite_url) as engine,
            Simulator(lab_config(calls=300), seed=14, speed=None, secret=SECRET) as sim,
            running(listener_for(sim.port, engine, pbx_id=pbx_id, sinks=[publisher])) as service,
        ):
            await until(lambda: publisher.stats.connected, what="the broker connection")
            await drive(sim, stop=mid_run(sim, 100))
            await settle(service)
            await until(lambda: publisher.buffered() == 0, what="pops sent")
            published_before = publisher.stats.published
            stoppable_broker.stop()
            await until(lambda: not publisher.stats.connected, what="the broker to go")
            down_at = sim.engine.now
            await drive(sim, stop=lambda: sim.engine.now >= down_at + 60)
            await settle(service)
            assert publisher.buffered() > 0  # held for the broker, ingestion unaffected
            stoppable_broker.start()
            await until(lambda: publisher.stats.connects >= 2, what="the broker to come back")
            await drive(sim)
            await settle(service)
            await until(lambda: publisher.buffered() == 0, what="the backlog sent")
            assert publisher.stats.published > published_before
            assert publisher.stats.dropped_overflow == 0
            rows = await fetch_rows(engine)
            assert truth_mismatches(sim.truth, rows) == []
            await still_ingesting(service, sim)
    finally:
        publishing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await publishing


async def test_burst_of_500_calls_in_a_minute(sqlite_url: str) -> None:
    # The lab's rates add up to 8.3 calls/min: 60 times that is 500 calls in a minute.
    config = lab_config(calls=500, load=60.0)
    async with (
        database(sqlite_url) as engine,
        Simulator(config, seed=15, speed=None, secret=SECRET) as sim,
        running(listener_for(sim.port, engine)) as service,
    ):
        await drive(sim)
        await settle(service)
        truth = sim.truth
        calls = truth.queue_calls()
        arrivals = sorted(c.arrived_at for c in calls)
        assert len(calls) == 500
        assert arrivals[-1] - arrivals[0] <= 90.0  # PBX time, from the seeded run
        peak = max(sum(1 for c in calls if c.arrived_at <= t < (c.ended_at or t)) for t in arrivals)
        assert peak >= 100  # hundreds of callers at once, mostly waiting
        rows = await fetch_rows(engine)
        assert truth_mismatches(truth, rows) == []
        await still_ingesting(service, sim)
