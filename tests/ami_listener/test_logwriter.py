"""The event-log writer process: same rows as the in-process pipeline, nothing lost when it
is killed mid-stream (unacknowledged spans are sent again, stored once), everything it
holds written at stop, call records written by it too."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.eventlog import event_row, join_frames, span_rows
from centralita.ami_listener.ingest import ingest_capture
from centralita.ami_listener.logwriter import LogWriterConfig, LogWriterProcess, WriterStats
from centralita.ami_listener.pipeline import Pipeline
from centralita.ami_listener.protocol import AmiMessage, iter_capture
from centralita.ami_listener.schema import ami_events, calls
from centralita.ami_listener.store import create_schema, make_engine
from centralita.ami_listener.tracker import CallTracker
from tests.conftest import FIXTURES

CAPTURE = FIXTURES / "GIT-master-f0c1c1a7b7-scenario.ami"
N_EVENTS = 10196  # the capture's 10,198 messages less its two responses
LOG_COLUMNS = ("pbx_id", "digest", "event", "ts_ms", "uniqueid", "linkedid", "queue", "raw")


def event_frames() -> list[bytes]:
    return [
        item.frame
        for item in iter_capture(CAPTURE.read_bytes())
        if isinstance(item, AmiMessage) and item.is_event
    ]


async def log_rows(engine: AsyncEngine) -> list[tuple[object, ...]]:
    async with engine.connect() as conn:
        cols = [ami_events.c[c] for c in LOG_COLUMNS]
        return [tuple(r) for r in await conn.execute(sa.select(*cols).order_by(ami_events.c.id))]


async def until(predicate: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def started_writer(
    db: Path, *, pbx_id: str = "lab", restart_delay_s: float = 0.5, **config: Any
) -> tuple[AsyncEngine, LogWriterProcess, WriterStats]:
    """A fresh SQLite log at ``db`` and a started writer process for it."""
    url = f"sqlite+aiosqlite:///{db}"
    engine = make_engine(url)
    await create_schema(engine)
    stats = WriterStats()
    writer = LogWriterProcess(
        LogWriterConfig(url=url, pbx_id=pbx_id, **config), stats, restart_delay_s=restart_delay_s
    )
    writer.start()
    return engine, writer, stats


def test_a_span_splits_back_into_its_frames() -> None:
    frames = event_frames()[:500]
    rows = span_rows("lab", join_frames(frames), 1.0)
    assert rows == [event_row("lab", frame, 1.0) for frame in frames]
    assert span_rows("lab", b"", 1.0) == []


async def test_killed_writer_is_restarted_and_nothing_is_lost_or_doubled(tmp_path: Path) -> None:
    engine, writer, stats = await started_writer(
        tmp_path / "log.db", batch_events=300, flush_interval_s=0.02, restart_delay_s=0.05
    )
    frames = event_frames()
    assert len(frames) == N_EVENTS
    await asyncio.wait_for(writer.connected.wait(), 60)
    half = len(frames) // 2
    for start in range(0, half, 100):
        writer.send(frames[start : min(start + 100, half)], 1.0)
    await until(lambda: stats.events_written > 0, "a first batch stored")
    first = writer.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    for start in range(half, len(frames), 100):
        writer.send(frames[start : start + 100], 2.0)
    await until(lambda: writer.restarts >= 1 and writer.connected.is_set(), "a restart")
    await until(lambda: writer.pending == 0, "every span acknowledged")
    await writer.stop()
    rows = await log_rows(engine)
    await engine.dispose()
    assert writer.pid != first
    assert len(rows) == N_EVENTS
    assert len({r[1] for r in rows}) == N_EVENTS
    # In wire order: the log's ids follow the stream (resent spans came in order too).
    expected_keys = [event_row("lab", f, 0.0)[1] for f in frames]
    assert [r[1] for r in rows] == expected_keys


async def test_stop_writes_everything_held_and_the_call_records(tmp_path: Path) -> None:
    pipeline = Pipeline(CallTracker("lab"), log_events=False)
    for item in iter_capture(CAPTURE.read_bytes()):
        if isinstance(item, AmiMessage):
            pipeline.feed(item, None)
    records = list(pipeline.buffer.calls)
    assert len(records) == 80
    # A long flush interval and a huge batch: whatever is still held at stop() is written.
    engine, writer, stats = await started_writer(
        tmp_path / "log.db", batch_events=100_000, flush_interval_s=3600
    )
    frames = event_frames()
    for start in range(0, len(frames), 500):
        writer.send(frames[start : start + 500], 1.0)
    writer.send_records(records, [])
    await writer.stop()
    async with engine.connect() as conn:
        n_calls = (await conn.execute(sa.select(sa.func.count()).select_from(calls))).scalar()
    n_events = len(await log_rows(engine))
    await engine.dispose()
    assert (n_events, n_calls) == (N_EVENTS, 80)
    assert (stats.events_written, stats.calls_written) == (N_EVENTS, 80)
    assert writer.pending == 0


async def test_a_partial_batch_is_written_when_the_stream_pauses(tmp_path: Path) -> None:
    """A batch short of full does not wait for the (here one-hour) flush interval once
    nothing more arrives."""
    engine, writer, stats = await started_writer(
        tmp_path / "log.db", batch_events=100_000, flush_interval_s=3600
    )
    try:
        writer.send(event_frames()[:500], 1.0)
        await until(lambda: stats.events_written == 500, "the paused stream's rows", 30)
        assert len(await log_rows(engine)) == 500
    finally:
        await writer.stop()
        await engine.dispose()


@pytest.mark.parametrize("pbx_id", ["lab"])
async def test_process_rows_equal_the_in_process_rows(pbx_id: str, tmp_path: Path) -> None:
    """The writer process and ``ingest-file`` store byte-identical rows (same digests), so
    a live stream and an audit backfill of its capture never duplicate each other."""
    inline = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}")
    await create_schema(inline)
    await ingest_capture(CAPTURE.read_bytes(), inline, pbx_id=pbx_id)
    expected = await log_rows(inline)
    await inline.dispose()
    engine, writer, _stats = await started_writer(tmp_path / "process.db", pbx_id=pbx_id)
    frames = event_frames()
    for start in range(0, len(frames), 64):
        writer.send(frames[start : start + 64], 5.0)
    await writer.stop()
    got = await log_rows(engine)
    await engine.dispose()
    assert got == expected


def test_the_resend_window_is_bounded_in_rows_around_call_records() -> None:
    """Past ``max_buffered_events`` the oldest spans are dropped from what the reading
    process could send again (counted), also when finished calls sit between them (they
    are never dropped); ``pending_rows`` counts rows, not messages."""
    pipeline = Pipeline(CallTracker("lab"), log_events=False)
    for item in iter_capture(CAPTURE.read_bytes()):
        if isinstance(item, AmiMessage):
            pipeline.feed(item, None)
    records = list(pipeline.buffer.calls)[:50]
    stats = WriterStats()
    writer = LogWriterProcess(
        LogWriterConfig(url="sqlite+aiosqlite://", pbx_id="lab", max_buffered_events=1000), stats
    )  # never started: everything stays in its window
    frames = event_frames()[:5000]
    for n, start in enumerate(range(0, len(frames), 100)):
        writer.send(frames[start : start + 100], 1.0)
        writer.send_records([records[n]], [])
    assert 900 <= writer.pending_events <= 1000
    assert writer.pending_rows == writer.pending_events + len(records)
    assert writer.pending == writer.pending_events // 100 + len(records)
    assert stats.resend_dropped == len(frames) - writer.pending_events
    assert stats.events_dropped == 0  # the child's count: it still holds them
