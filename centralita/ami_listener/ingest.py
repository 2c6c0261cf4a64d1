"""Offline ingestion: a recorded AMI capture into the store, and ``rebuild`` from the log.

Both go through the very same :class:`~ami_listener.pipeline.Pipeline` as the daemon.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from centralita.ami_listener.pipeline import Pipeline, PipelineStats, message_from_row
from centralita.ami_listener.protocol import AmiMessage, AmiParser, MalformedFrame
from centralita.ami_listener.records import CallRecord
from centralita.ami_listener.schema import ami_events, calls, queue_entries
from centralita.ami_listener.store import upsert_calls, write_batch
from centralita.ami_listener.tracker import CallTracker, ServiceResolver, default_service

BATCH_EVENTS = 5000
READ_CHUNK = 64 * 1024

ProgressFn = Callable[[PipelineStats], None]


@dataclass
class IngestStats:
    """What an ingestion did."""

    events: int
    malformed: int
    rejected: int
    calls: int
    open_calls: int


async def ingest_capture(
    data: bytes,
    engine: AsyncEngine,
    pbx_id: str = "lab",
    *,
    service_for: ServiceResolver = default_service,
    progress: ProgressFn | None = None,
) -> IngestStats:
    """Feed a raw AMI byte stream (a capture file) through the pipeline into the store.

    The bytes are parsed in TCP-sized chunks, exactly as the live connection does.
    Calls still in progress at the end of the capture are not written (not final).
    """
    tracker = CallTracker(pbx_id, service_for)
    pipeline = Pipeline(tracker)
    parser = AmiParser()
    for start in range(0, len(data), READ_CHUNK):
        for item in parser.feed(data[start : start + READ_CHUNK]):
            if isinstance(item, AmiMessage):
                pipeline.feed(item, None)
            elif isinstance(item, MalformedFrame):
                pipeline.malformed(item)
        if len(pipeline.buffer.events) >= BATCH_EVENTS:
            await write_batch(engine, pipeline.buffer.take(len(pipeline.buffer.events)))
            if progress is not None:
                progress(pipeline.stats)
    if parser.pending:
        for item in parser.feed(b"\r\n\r\n"):
            if isinstance(item, AmiMessage):
                pipeline.feed(item, None)
            elif isinstance(item, MalformedFrame):
                pipeline.malformed(item)
    await write_batch(engine, pipeline.buffer.take(len(pipeline.buffer.events)))
    if progress is not None:
        progress(pipeline.stats)
    stats = pipeline.stats
    return IngestStats(
        events=stats.events,
        malformed=stats.malformed,
        rejected=stats.rejected,
        calls=stats.calls_finished,
        open_calls=len(tracker.calls),
    )


REPLAY_MARGIN_MS = 15 * 60 * 1000
"""How far before the wanted time the replay starts looking (see :func:`first_id_since`)."""


async def first_id_since(conn: AsyncConnection, pbx_id: str, since_ms: int) -> int:
    """An id from which every row of ``pbx_id`` received at ``since_ms`` or later lies,
    found by bisection over the log's ids: a few primary-key lookups instead of reading
    the whole log (``received_ms`` has no index: every insert would pay for one).

    One PBX's rows are stored in the order they were received, except a writer process's
    resend after a crash (seconds); the search aims ``REPLAY_MARGIN_MS`` earlier to cover
    that. Returns 0 when the log holds nothing for ``pbx_id``.
    """
    c = ami_events.c
    bounds = (await conn.execute(sa.select(sa.func.min(c.id), sa.func.max(c.id)))).one()
    if bounds[0] is None:
        return 0
    known = sa.select(sa.literal(1)).where(c.pbx_id == pbx_id).limit(1)  # (pbx_id, digest)
    if (await conn.execute(known)).first() is None:
        return int(bounds[1]) + 1
    lo, hi = int(bounds[0]), int(bounds[1]) + 1  # the answer lies in [lo, hi]
    target = since_ms - REPLAY_MARGIN_MS
    probe = (
        sa.select(c.id, c.received_ms)
        .where(_of_pbx(conn, pbx_id), c.id >= sa.bindparam("at"))
        .order_by(c.id)
        .limit(1)
    )
    while lo < hi:
        mid = (lo + hi) // 2
        row = (await conn.execute(probe, {"at": mid})).first()
        if row is None or row[1] >= target:
            hi = mid  # nothing of this PBX from mid on is older than the target
        else:
            lo = int(row[0]) + 1  # this row is older: so is every row of the PBX before it
    return lo


def _of_pbx(conn: AsyncConnection, pbx_id: str) -> sa.ColumnElement[bool]:
    """``pbx_id = :pbx`` for queries that walk the log by id. On SQLite a unary ``+`` keeps
    the planner off the ``(pbx_id, digest)`` index, which would read every row of the PBX
    and sort them by id; the rowid range is walked instead."""
    if conn.dialect.name == "sqlite":
        return sa.literal_column("+ami_events.pbx_id") == pbx_id
    return ami_events.c.pbx_id == pbx_id


async def replay_log(
    engine: AsyncEngine,
    pbx_id: str,
    *,
    service_for: ServiceResolver = default_service,
    since_ms: int | None = None,
) -> tuple[list[CallRecord], CallTracker]:
    """Fold the stored event log of one PBX through a fresh tracker, in log order
    (from ``since_ms`` on, when given)."""
    tracker = CallTracker(pbx_id, service_for)
    pipeline = Pipeline(tracker, log_events=False)
    async with engine.connect() as conn:
        query = (
            sa.select(ami_events.c.raw, ami_events.c.received_ms)
            .where(_of_pbx(conn, pbx_id))
            .order_by(ami_events.c.id)
        )
        if since_ms is not None:
            start = await first_id_since(conn, pbx_id, since_ms)
            query = query.where(ami_events.c.id >= start, ami_events.c.received_ms >= since_ms)
        result = await conn.stream(query.execution_options(yield_per=5000))
        async for raw, received_ms in result:
            msg = message_from_row(raw)
            if isinstance(msg, AmiMessage):
                pipeline.feed(msg, received_ms / 1000.0)
    return list(pipeline.buffer.calls), tracker


async def rebuild(
    engine: AsyncEngine,
    pbx_id: str | None = None,
    *,
    service_for: ServiceResolver = default_service,
) -> dict[str, int]:
    """Recompute the call records from the event log (all PBXs, or one).

    Returns the number of calls written per PBX.
    """
    async with engine.connect() as conn:
        if pbx_id is None:
            rows = await conn.execute(sa.select(ami_events.c.pbx_id).distinct())
            pbx_ids = sorted(r[0] for r in rows)
        else:
            pbx_ids = [pbx_id]
    written: dict[str, int] = {}
    for pbx in pbx_ids:
        records, _tracker = await replay_log(engine, pbx, service_for=service_for)
        async with engine.begin() as conn:
            await conn.execute(sa.delete(queue_entries).where(queue_entries.c.pbx_id == pbx))
            await conn.execute(sa.delete(calls).where(calls.c.pbx_id == pbx))
            latest = {r.uniqueid: r for r in records}
            written[pbx] = await conn.run_sync(upsert_calls, latest.values())
    return written
