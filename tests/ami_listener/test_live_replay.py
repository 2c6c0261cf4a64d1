"""The capture served over real TCP by the fake AMI server gives the same records as the
file, even cut at random points, with the connection dropped mid-frame and restored, and
with a frame of garbage inserted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa

from centralita.ami_listener.ingest import ingest_capture
from centralita.ami_listener.schema import ami_events, calls
from centralita.ami_listener.service import AmiSettings, ListenerService
from centralita.ami_listener.store import create_schema, make_engine
from centralita.ami_listener.tracker import CallTracker
from centralita.simulator.capture_server import CaptureServer
from tests.conftest import FIXTURES

COLUMNS = (
    "uniqueid",
    "service",
    "queue",
    "queues",
    "caller_num",
    "entered_at_ms",
    "answered_at_ms",
    "ended_at_ms",
    "wait_ms",
    "holdtime_s",
    "wait_asterisk_s",
    "talk_ms",
    "agent_name",
    "outcome",
    "ring_no_answer",
)


async def records(engine) -> list[tuple[object, ...]]:
    async with engine.connect() as conn:
        cols = [calls.c[c] for c in COLUMNS]
        rows = await conn.execute(sa.select(*cols).order_by(calls.c.uniqueid))
        return [tuple(r) for r in rows]


async def event_log(engine) -> set[tuple[object, ...]]:
    """The stored log (what does not depend on when it was received)."""
    cols = [ami_events.c[c] for c in ("digest", "event", "ts_ms", "uniqueid", "queue", "raw")]
    async with engine.connect() as conn:
        return {tuple(r) for r in await conn.execute(sa.select(*cols))}


async def from_file(tmp_path: Path, name: str) -> list[tuple[object, ...]]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'file.db'}")
    await create_schema(engine)
    await ingest_capture((FIXTURES / f"{name}-scenario.ami").read_bytes(), engine)
    out = await records(engine)
    await engine.dispose()
    return out


async def file_log(tmp_path: Path) -> set[tuple[object, ...]]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'file.db'}")
    out = await event_log(engine)
    await engine.dispose()
    return out


async def from_tcp(
    url: str, server: CaptureServer, log_writer: str = "process"
) -> tuple[list[tuple[object, ...]], ListenerService]:
    engine = make_engine(url)
    await create_schema(engine)
    port = await server.start()
    service = ListenerService(
        AmiSettings(port=port, secret="s3cret", backoff_initial_s=0.05, backoff_max_s=0.2),
        engine,
        CallTracker("lab"),
        flush_interval_s=0.05,
        log_writer=log_writer,
    )
    task = asyncio.create_task(service.run())
    try:
        await asyncio.wait_for(server.finished.wait(), 60)
        await service.drain()
        out = await records(engine)
        service.stored_log = await event_log(engine)  # type: ignore[attr-defined]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await server.close()
        await engine.dispose()
    return out, service


@pytest.mark.parametrize(
    ("name", "log_writer"),
    [
        ("GIT-master-f0c1c1a7b7", "process"),
        ("GIT-11-f3cdc37300", "process"),
        ("edge-GIT-master-f0c1c1a7b7", "process"),
        ("GIT-master-f0c1c1a7b7", "inline"),
    ],
)
async def test_tcp_replay_with_cuts_drops_and_garbage(
    name: str, log_writer: str, tmp_path: Path
) -> None:
    expected = await from_file(tmp_path, name)
    data = (FIXTURES / f"{name}-scenario.ami").read_bytes()
    server = CaptureServer(
        data,
        secret="s3cret",
        seed=7,
        max_write=1500,
        drop_after=[700, 2500, 4000],
        garbage_at=[1200],
    )
    got, service = await from_tcp(f"sqlite+aiosqlite:///{tmp_path / 'tcp.db'}", server, log_writer)
    assert service.log_writer == log_writer
    assert got == expected
    # The event log too: every event once, byte for byte what ingest-file stores, plus the
    # answers to the listener's own QueueStatus after each login.
    live, from_capture = service.stored_log, await file_log(tmp_path)  # type: ignore[attr-defined]
    assert from_capture <= live
    extra = live - from_capture
    assert extra and all("\nActionID: centralita-resync-" in row[-1] for row in extra)
    assert server.logins == 4  # the first login and three reconnections
    assert service.client.stats.resyncs_requested == 4
    assert service.pipeline.stats.resyncs == 4
    assert service.pipeline.stats.malformed == 1


async def test_tcp_replay_into_postgres(postgres_url: str, tmp_path: Path) -> None:
    name = "GIT-16-113871b5f5"
    expected = await from_file(tmp_path, name)
    data = (FIXTURES / f"{name}-scenario.ami").read_bytes()
    server = CaptureServer(data, secret="s3cret", seed=3, max_write=4000, drop_after=[1500])
    got, _service = await from_tcp(postgres_url, server)
    assert got == expected


async def test_event_log_is_idempotent(tmp_path: Path) -> None:
    """The same stream ingested twice produces no duplicate events or calls."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    await create_schema(engine)
    data = (FIXTURES / "GIT-master-f0c1c1a7b7-scenario.ami").read_bytes()
    first = await ingest_capture(data, engine)
    await ingest_capture(data, engine)
    async with engine.connect() as conn:
        n_events = (await conn.execute(sa.select(sa.func.count()).select_from(ami_events))).scalar()
        n_calls = (await conn.execute(sa.select(sa.func.count()).select_from(calls))).scalar()
    await engine.dispose()
    assert n_events == first.events == 10196  # 10,198 messages less the two responses
    assert n_calls == 80


async def test_rebuild_from_the_log_gives_the_same_records(db_url: str, tmp_path: Path) -> None:
    """`centralita rebuild` recomputes the call records from the stored event log alone."""
    from centralita.ami_listener.ingest import rebuild

    name = "edge-GIT-master-f0c1c1a7b7"
    expected = await from_file(tmp_path, name)
    engine = make_engine(db_url)
    await create_schema(engine)
    await ingest_capture((FIXTURES / f"{name}-scenario.ami").read_bytes(), engine)
    async with engine.begin() as conn:
        await conn.execute(sa.delete(calls))
    assert await records(engine) == []
    written = await rebuild(engine)
    got = await records(engine)
    await engine.dispose()
    assert written == {"lab": 66}
    assert got == expected
