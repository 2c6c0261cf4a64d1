"""Read-only queries over the call records (SQLAlchemy Core, SQLite and PostgreSQL alike).

Aggregation happens in SQL: one ``GROUP BY (group key, hour index)`` over integer
columns returns a few thousand rows for a month, whatever the number of calls; the pure
:func:`metrics.service_level.build_report` folds them into days, hours and the month.

Two sources with the same column names: ``"ami"`` (``calls`` / ``queue_entries``, written
by the listener) and ``"queue_log"`` (``ql_calls`` / ``ql_queue_entries``, imported).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from centralita.ami_listener.schema import calls, queue_entries
from centralita.metrics.heal import count_provenance
from centralita.metrics.periods import HOUR_MS, Period
from centralita.metrics.schema import HOUR_EXPR, ivr_calls, ql_calls, ql_queue_entries
from centralita.metrics.service_level import (
    ABANDONED,
    CUT,
    EXIT_EMPTY,
    EXIT_WITH_KEY,
    TIMEOUT,
    UNKNOWN,
    Bucket,
    CountingRules,
    Counts,
    GroupBy,
    Report,
    build_report,
)

Source = Literal["ami", "queue_log"]
SOURCES: Final[tuple[str, ...]] = ("ami", "queue_log")

WAIT_BANDS: Final[tuple[tuple[str, int | None], ...]] = (
    ("0-10 s", 10),
    ("10-20 s", 20),
    ("20-30 s", 30),
    ("30-60 s", 60),
    ("60+ s", None),
)
"""Wait-time bands (upper bound inclusive, seconds): a wait of exactly 20 s is in 10-20."""
UNKNOWN_WAIT_BAND: Final = "sin dato"
"""The band of the calls whose wait is unknown (NULL): never put in a band by a guess."""


def table_for(source: Source, by: GroupBy) -> sa.Table:
    """The table a report reads: calls (per service) or queue stays (per queue)."""
    if source == "ami":
        return calls if by == "service" else queue_entries
    return ql_calls if by == "service" else ql_queue_entries


def wait_expr(table: sa.Table, rules: CountingRules) -> sa.ColumnElement[Any]:
    """The wait on the rules' basis: whole seconds (asterisk) or milliseconds (exact)."""
    if rules.wait_basis == "exact":
        return table.c.wait_ms
    return sa.func.coalesce(table.c.wait_asterisk_s, table.c.wait_ms // 1000)


def _limits(rules: CountingRules) -> tuple[int, int]:
    scale = 1000 if rules.wait_basis == "exact" else 1
    return rules.threshold_s * scale, rules.short_abandon_s * scale


def _period_filter(table: sa.Table, period: Period, pbx_id: str | None) -> list[Any]:
    conds: list[Any] = [
        table.c.entered_at_ms >= period.start_ms,
        table.c.entered_at_ms < period.end_ms,
    ]
    if pbx_id is not None:
        conds.append(table.c.pbx_id == pbx_id)
    return conds


def _count_if(cond: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
    return sa.func.count().filter(cond)


def _hour_expr(table: sa.Table, period: Period) -> tuple[sa.ColumnElement[Any], int]:
    """(hour expression, offset to subtract for the index since the period start).

    When the period starts on a whole UTC hour (every whole-hour zone, La Paz included)
    the absolute hour ``entered_at_ms / 3600000`` is used, literally, so that SQLite and
    PostgreSQL can read the covering index ``ix_calls_report`` in GROUP BY order.
    """
    if period.start_ms % HOUR_MS == 0:
        return sa.literal_column(f"{table.name}.{HOUR_EXPR}"), period.start_ms // HOUR_MS
    return (table.c.entered_at_ms - period.start_ms) // HOUR_MS, 0


def bucket_query(
    period: Period,
    rules: CountingRules,
    *,
    by: GroupBy = "service",
    source: Source = "ami",
    pbx_id: str | None = None,
) -> tuple[sa.Select[Any], int]:
    """``SELECT hour, key, counts... GROUP BY hour, key`` and the hour offset."""
    table = table_for(source, by)
    key = table.c.service if by == "service" else table.c.queue
    hour, offset = _hour_expr(table, period)
    answered = table.c.answered_at_ms.is_not(None)
    unanswered = table.c.answered_at_ms.is_(None)
    wait = wait_expr(table, rules)
    threshold, short = _limits(rules)
    outcome = table.c.outcome
    short_col: sa.ColumnElement[Any] = (
        _count_if(sa.and_(unanswered, outcome == ABANDONED, wait < short))
        if rules.short_abandon_s > 0
        else sa.literal(0)
    )
    if offset:
        end_hour = period.end_ms // HOUR_MS
        conds: list[Any] = [hour >= offset, hour < end_hour]
        if pbx_id is not None:
            conds.append(table.c.pbx_id == pbx_id)
    else:
        conds = _period_filter(table, period, pbx_id)
    stmt = (
        sa.select(
            hour.label("h"),
            key.label("k"),
            sa.func.count().label("n"),
            sa.func.count(table.c.answered_at_ms).label("answered"),
            _count_if(sa.and_(answered, wait <= threshold)).label("within"),
            _count_if(sa.and_(unanswered, outcome == ABANDONED)).label("abandoned"),
            short_col.label("short"),
            _count_if(sa.and_(unanswered, outcome == TIMEOUT)).label("timeout"),
            _count_if(sa.and_(unanswered, outcome == EXIT_EMPTY)).label("exit_empty"),
            _count_if(sa.and_(unanswered, outcome == EXIT_WITH_KEY)).label("exit_key"),
            _count_if(sa.and_(unanswered, outcome == CUT)).label("cut"),
            _count_if(sa.and_(unanswered, outcome == UNKNOWN)).label("unknown"),
            sa.func.sum(table.c.wait_ms).filter(answered).label("wait_ms"),
            _count_if(sa.and_(answered, table.c.wait_ms.is_(None))).label("wait_unknown"),
        )
        .where(*conds)
        .group_by(hour, key)
    )
    return stmt, offset


async def fetch_buckets(
    conn: AsyncConnection,
    period: Period,
    rules: CountingRules,
    *,
    by: GroupBy = "service",
    source: Source = "ami",
    pbx_id: str | None = None,
) -> list[Bucket]:
    """Counts per group and hour of the period."""
    stmt, offset = bucket_query(period, rules, by=by, source=source, pbx_id=pbx_id)
    result = await conn.execute(stmt)
    buckets: list[Bucket] = []
    # Positional unpacking in the SELECT's column order: ~7,000 rows for a month. count()
    # is never NULL; sum() is NULL without answered calls (and a Decimal on PostgreSQL).
    # A NULL wait is never within the threshold nor a short abandon (NULL comparisons).
    for row in result:
        h, k, n, answered, within, abandoned, short, timeout, empty, key_exit = row[:10]
        cut, unknown, wait_ms, wait_unknown = row[10:]
        counts = Counts(
            answered=answered,
            answered_within=within,
            abandoned=abandoned,
            abandoned_short=short,
            timeout=timeout,
            exit_empty=empty,
            exit_with_key=key_exit,
            cut=cut,
            unknown=unknown,
            other=n - answered - abandoned - timeout - empty - key_exit - cut - unknown,
            answered_wait_ms=int(wait_ms or 0),
            answered_wait_unknown=wait_unknown,
        )
        buckets.append(Bucket(str(k), int(h) - offset, counts))
    return buckets


async def has_table(conn: AsyncConnection, name: str) -> bool:
    """True when the table exists (metrics tables are optional for AMI-only sites)."""
    return bool(await conn.run_sync(lambda sync: sa.inspect(sync).has_table(name)))


async def fetch_ivr_buckets(
    conn: AsyncConnection, period: Period, *, pbx_id: str | None = None
) -> list[Bucket]:
    """Calls that never reached a queue, per service and hour: IVR hang-ups and calls the
    IVR sent elsewhere (empty without the table)."""
    if not await has_table(conn, ivr_calls.name):
        return []
    t = ivr_calls
    hour = ((t.c.started_at_ms - period.start_ms) // HOUR_MS).label("h")
    conds: list[Any] = [
        t.c.started_at_ms >= period.start_ms,
        t.c.started_at_ms < period.end_ms,
    ]
    if pbx_id is not None:
        conds.append(t.c.pbx_id == pbx_id)
    hung = t.c.hung_up_before_queue.label("hung")
    result = await conn.execute(
        sa.select(t.c.service, hour, hung, sa.func.count().label("n"))
        .where(*conds)
        .group_by(t.c.service, hour, t.c.hung_up_before_queue)
    )
    return [
        Bucket(
            str(r.service),
            int(r.h),
            Counts(ivr_hangups=int(r.n)) if r.hung else Counts(ivr_derived=int(r.n)),
        )
        for r in result
    ]


@dataclass(frozen=True)
class ReportRequest:
    """What to report: period, rules, grouping, source and PBX filter."""

    period: Period
    rules: CountingRules
    by: GroupBy = "service"
    source: Source = "ami"
    pbx_id: str | None = None


async def monthly_report(
    engine: AsyncEngine,
    request: ReportRequest,
    *,
    names: Mapping[str, str] | None = None,
    software_version: str = "",
    generated_at: datetime | None = None,
) -> Report:
    """Query and assemble the indicator report of a period."""
    async with engine.connect() as conn:
        buckets = await fetch_buckets(
            conn,
            request.period,
            request.rules,
            by=request.by,
            source=request.source,
            pbx_id=request.pbx_id,
        )
        if request.by == "service":
            buckets += await fetch_ivr_buckets(conn, request.period, pbx_id=request.pbx_id)
    provenance = (
        await count_provenance(engine, request.period, request.pbx_id)
        if request.source == "ami"
        else None
    )
    return build_report(
        period=request.period,
        rules=request.rules,
        buckets=buckets,
        group_by=request.by,
        names=names,
        generated_at=generated_at or datetime.now(UTC),
        software_version=software_version,
        source=request.source,
        provenance=provenance,
    )


DETAIL_COLUMNS: Final[tuple[str, ...]] = (
    "uniqueid",
    "service",
    "queue",
    "caller_num",
    "entered_at_ms",
    "answered_at_ms",
    "wait_asterisk_s",
    "wait_ms",
    "outcome",
    "agent_name",
    "source",
    "marks",
)


async def iter_detail(
    conn: AsyncConnection,
    request: ReportRequest,
    *,
    only_unanswered: bool = False,
    chunk: int = 20_000,
) -> AsyncIterator[dict[str, Any]]:
    """Call-level rows of the period (audit detail), in entry order, streamed.

    Rows are fetched ``chunk`` at a time (one hop to the driver per chunk, not per row).
    """
    table = table_for(request.source, request.by)
    queue_col = table.c.queue if request.by == "queue" else table.c.queues
    from_: sa.FromClause = table
    origin: list[sa.ColumnElement[Any]]
    if request.source == "queue_log":
        # Imported as is: no resync, no healing.
        origin = [sa.literal("").label("source"), sa.literal("").label("marks")]
    elif request.by == "queue":
        # Provenance is the call's: join each stay to its call record.
        from_ = table.outerjoin(
            calls, sa.and_(calls.c.pbx_id == table.c.pbx_id, calls.c.uniqueid == table.c.uniqueid)
        )
        origin = [
            sa.func.coalesce(calls.c.source, "").label("source"),
            sa.func.coalesce(calls.c.marks, "").label("marks"),
        ]
    else:
        origin = [table.c.source, table.c.marks]
    cols = [
        table.c.uniqueid,
        table.c.service,
        queue_col.label("queue"),
        table.c.caller_num if request.by == "service" else sa.literal("").label("caller_num"),
        table.c.entered_at_ms,
        table.c.answered_at_ms,
        table.c.wait_asterisk_s,
        table.c.wait_ms,
        table.c.outcome,
        table.c.agent_name,
        *origin,
    ]
    conds = _period_filter(table, request.period, request.pbx_id)
    if only_unanswered:
        conds.append(table.c.answered_at_ms.is_(None))
    stmt = (
        sa.select(*cols)
        .select_from(from_)
        .where(*conds)
        .order_by(table.c.entered_at_ms, table.c.uniqueid)
    )
    result = await conn.stream(stmt.execution_options(yield_per=chunk))
    async for partition in result.partitions():
        for row in partition:
            yield dict(row._mapping)


async def fetch_wait_bands(
    conn: AsyncConnection, request: ReportRequest
) -> list[tuple[str, str, bool, int]]:
    """Rows (group, band label, answered, count) of the wait-time distribution; a call
    whose wait is unknown is in :data:`UNKNOWN_WAIT_BAND`, never in a band by a guess."""
    table = table_for(request.source, request.by)
    key = table.c.service if request.by == "service" else table.c.queue
    wait = wait_expr(table, request.rules)
    scale = 1000 if request.rules.wait_basis == "exact" else 1
    whens: list[tuple[sa.ColumnElement[bool], sa.ColumnElement[Any]]]
    whens = [(wait.is_(None), sa.literal(UNKNOWN_WAIT_BAND))]
    whens += [
        (wait <= upper * scale, sa.literal(label))
        for label, upper in WAIT_BANDS
        if upper is not None
    ]
    band = sa.case(*whens, else_=sa.literal(WAIT_BANDS[-1][0])).label("band")
    answered = sa.case((table.c.answered_at_ms.is_not(None), 1), else_=0).label("ans")
    result = await conn.execute(
        sa.select(key.label("k"), band, answered, sa.func.count().label("n"))
        .where(*_period_filter(table, request.period, request.pbx_id))
        .group_by(key, band, answered)
    )
    return [(str(r.k), str(r.band), bool(r.ans), int(r.n)) for r in result]


async def fetch_agents(
    conn: AsyncConnection, request: ReportRequest
) -> list[tuple[str, int, int, int, int]]:
    """Rows (agent, answered stays, talk ms, wait ms, stays whose talk is known), one per
    agent: each queue stay an agent answered, with that stay's own talk and wait (a call
    transferred from one agent to another counts for both, each with their part). The
    calls are those that entered in the period."""
    if request.source == "queue_log":
        table, stays = ql_calls, ql_queue_entries
    else:
        table, stays = calls, queue_entries
    talk = stays.c.talk_ms
    result = await conn.execute(
        sa.select(
            stays.c.agent_name,
            sa.func.count().label("n"),
            sa.func.sum(sa.func.coalesce(talk, 0)).label("talk"),
            sa.func.sum(sa.func.coalesce(stays.c.wait_ms, 0)).label("wait"),
            _count_if(talk.is_not(None)).label("known"),
        )
        .select_from(
            stays.join(
                table,
                sa.and_(table.c.pbx_id == stays.c.pbx_id, table.c.uniqueid == stays.c.uniqueid),
            )
        )
        .where(
            *_period_filter(table, request.period, request.pbx_id),
            stays.c.answered_at_ms.is_not(None),
        )
        .group_by(stays.c.agent_name)
        .order_by(sa.func.count().desc(), stays.c.agent_name)
    )
    return [
        (str(r.agent_name), int(r.n), int(r.talk or 0), int(r.wait or 0), int(r.known or 0))
        for r in result
    ]
