"""Import a queue_log file into the metrics tables (``ql_*``), apart from the AMI records.

Idempotent: every line is stored once (by pbx and line digest), and the calls are
replaced by callid. A call split across two files (log rotation) is completed when the
second file is imported: callids left incomplete by one file are re-folded from every
stored line of that callid.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from centralita.metrics.exceptions import QueueLogError
from centralita.metrics.queue_log import (
    FoldStats,
    Malformed,
    QlCall,
    QueueLogFolder,
    QueueLogLine,
    iter_lines,
    line_digests,
)
from centralita.metrics.schema import ql_calls, ql_lines, ql_queue_entries
from centralita.metrics.service_level import service_of_queue

BATCH = 5000


@dataclass
class ImportResult:
    """What an import did."""

    lines: int = 0
    lines_stored: int = 0
    calls: int = 0
    queue_entries: int = 0
    malformed: list[Malformed] = field(default_factory=list)
    unknown_verbs: dict[str, int] = field(default_factory=dict)
    unfinished: int = 0
    orphans: int = 0


def read_queue_log(path: str | Path) -> str:
    """Read a queue_log file (UTF-8, undecodable bytes replaced).

    Raises:
        QueueLogError: the file cannot be read.
    """
    try:
        return Path(path).read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise QueueLogError(f"no se puede leer {path}: {exc}") from exc


def _insert(conn: AsyncConnection, table: sa.Table) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def line_row(pbx_id: str, line: QueueLogLine, digest: bytes, source: str) -> dict[str, Any]:
    """The ``ql_lines`` row of one queue_log line."""
    return {
        "pbx_id": pbx_id,
        "digest": digest,
        "time_s": line.time_s,
        "callid": line.callid,
        "queue": line.queue,
        "agent": line.agent,
        "verb": line.verb,
        "data": "|".join(line.data),
        "source": source,
        "line_no": line.line_no,
    }


async def _store_lines(
    conn: AsyncConnection, pbx_id: str, lines: Sequence[QueueLogLine], source: str
) -> int:
    stmt = _insert(conn, ql_lines).on_conflict_do_nothing(index_elements=["pbx_id", "digest"])
    stored = 0
    batch: list[dict[str, Any]] = []
    for line, digest in line_digests(lines):
        batch.append(line_row(pbx_id, line, digest, source))
        if len(batch) >= BATCH:
            result = await conn.execute(stmt, batch)
            stored += max(result.rowcount, 0)
            batch = []
    if batch:
        result = await conn.execute(stmt, batch)
        stored += max(result.rowcount, 0)
    return stored


async def _refold_stored(
    conn: AsyncConnection,
    pbx_id: str,
    callids: set[str],
    service_for_queue: Callable[[str], str],
) -> dict[str, QlCall]:
    """Re-fold callids from every stored line (completes calls split across files)."""
    folder = QueueLogFolder(service_for_queue)
    ids = sorted(callids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = await conn.execute(
            sa.select(
                ql_lines.c.time_s,
                ql_lines.c.callid,
                ql_lines.c.queue,
                ql_lines.c.agent,
                ql_lines.c.verb,
                ql_lines.c.data,
                ql_lines.c.line_no,
            )
            .where(ql_lines.c.pbx_id == pbx_id, ql_lines.c.callid.in_(chunk))
            .order_by(ql_lines.c.time_s, ql_lines.c.id)
        )
        for row in rows:
            data = tuple(row.data.split("|")) if row.data else ()
            raw = "|".join([str(row.time_s), row.callid, row.queue, row.agent, row.verb, *data])
            folder.apply(
                QueueLogLine(
                    row.line_no, row.time_s, row.callid, row.queue, row.agent, row.verb, data, raw
                )
            )
    return {call.uniqueid: call for call in folder.finish()}


async def _replace_calls(
    conn: AsyncConnection, pbx_id: str, calls: Sequence[QlCall]
) -> tuple[int, int]:
    call_rows: list[dict[str, object]] = []
    entry_rows: list[dict[str, object]] = []
    for call in calls:
        row = call.row(pbx_id)
        if row is None:
            continue
        call_rows.append(row)
        entry_rows.extend(call.entry_rows(pbx_id))
    ids = [str(r["uniqueid"]) for r in call_rows]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        await conn.execute(
            sa.delete(ql_queue_entries).where(
                ql_queue_entries.c.pbx_id == pbx_id, ql_queue_entries.c.uniqueid.in_(chunk)
            )
        )
        await conn.execute(
            sa.delete(ql_calls).where(ql_calls.c.pbx_id == pbx_id, ql_calls.c.uniqueid.in_(chunk))
        )
    for start in range(0, len(call_rows), BATCH):
        await conn.execute(sa.insert(ql_calls), call_rows[start : start + BATCH])
    for start in range(0, len(entry_rows), BATCH):
        await conn.execute(sa.insert(ql_queue_entries), entry_rows[start : start + BATCH])
    return len(call_rows), len(entry_rows)


async def import_queue_log(
    text: str,
    engine: AsyncEngine,
    *,
    pbx_id: str = "default",
    source: str = "",
    service_for_queue: Callable[[str], str] = service_of_queue,
) -> ImportResult:
    """Parse, store and fold one queue_log text; returns counts and malformed lines.

    The tables must exist (``centralita db-migrate``; the CLI migrates before it calls).
    """
    parsed = list(iter_lines(text))
    lines = [item for item in parsed if isinstance(item, QueueLogLine)]
    folder = QueueLogFolder(service_for_queue)
    folder.feed(parsed)
    calls = {call.uniqueid: call for call in folder.finish()}
    stats: FoldStats = folder.stats
    async with engine.begin() as conn:
        stored = await _store_lines(conn, pbx_id, lines, source)
        if stats.incomplete_callids:
            calls.update(
                await _refold_stored(conn, pbx_id, stats.incomplete_callids, service_for_queue)
            )
        n_calls, n_entries = await _replace_calls(conn, pbx_id, list(calls.values()))
    unfinished = sum(1 for call in calls.values() for entry in call.entries if not entry.finished)
    return ImportResult(
        lines=stats.lines,
        lines_stored=stored,
        calls=n_calls,
        queue_entries=n_entries,
        malformed=stats.malformed,
        unknown_verbs=stats.unknown_verbs,
        unfinished=unfinished,
        orphans=stats.orphans,
    )
