"""The daemon's start-up replay finds its window by bisection over ids, not a full scan."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.ingest import REPLAY_MARGIN_MS, first_id_since, replay_log
from centralita.ami_listener.schema import ami_events
from centralita.ami_listener.store import create_schema, make_engine

MINUTE = 60_000


def interleaved_log(seed: int) -> list[dict[str, object]]:
    """Two PBXs writing one log. ``a`` resends a few seconds once (a writer restart); ``b``
    was cut off for an hour and then wrote its backlog (old receipt times, new ids)."""
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    now = 1_795_900_000_000
    backlog: list[int] = []
    for step in range(3000):
        now += rng.randint(100, 3000)
        rows.append({"pbx_id": "a", "received_ms": now})
        if 1000 <= step < 2200:  # b's link is down: what it receives waits
            backlog.append(now + rng.randint(-500, 500))
        else:
            rows.extend({"pbx_id": "b", "received_ms": t} for t in backlog)
            backlog.clear()
            rows.append({"pbx_id": "b", "received_ms": now + rng.randint(-500, 500)})
        if step == 1500:  # a's writer restarted: the last seconds sent again
            rows.extend({"pbx_id": "a", "received_ms": now - d} for d in (4000, 2500, 900))
    for i, row in enumerate(rows):
        row["digest"] = i.to_bytes(16, "big")
        row["event"] = "Newexten"
        row["raw"] = "Event: Newexten"
    return rows


async def filled(url: str) -> AsyncEngine:
    engine = make_engine(url)
    await create_schema(engine)
    async with engine.begin() as conn:
        await conn.execute(sa.insert(ami_events), interleaved_log(5))
    return engine


@pytest.fixture
async def log_engine(db_url: str) -> AsyncEngine:
    """The log on SQLite and on PostgreSQL."""
    return await filled(db_url)


@pytest.fixture
async def sqlite_log(sqlite_url: str) -> AsyncEngine:
    return await filled(sqlite_url)


async def test_the_window_holds_every_row_received_since(log_engine: AsyncEngine) -> None:
    c = ami_events.c
    async with log_engine.connect() as conn:
        rows = (await conn.execute(sa.select(c.id, c.pbx_id, c.received_ms))).all()
        lo, hi = min(r[2] for r in rows), max(r[2] for r in rows)
        for pbx in ("a", "b"):
            for since in [lo - MINUTE, lo, *random.Random(1).sample(range(lo, hi), 40), hi + 1]:
                start = await first_id_since(conn, pbx, since)
                wanted = {r[0] for r in rows if r[1] == pbx and r[2] >= since}
                assert all(i >= start for i in wanted), (pbx, since)
                # and the window does not reach far back: at most the margin's worth
                early = [r for r in rows if r[1] == pbx and r[0] >= start and r[2] < since]
                assert all(r[2] >= since - REPLAY_MARGIN_MS - 10 * MINUTE for r in early)
    await log_engine.dispose()


async def test_an_empty_log_or_an_unknown_pbx(log_engine: AsyncEngine, tmp_path: Path) -> None:
    async with log_engine.connect() as conn:
        max_id = (await conn.execute(sa.select(sa.func.max(ami_events.c.id)))).scalar()
        assert await first_id_since(conn, "nobody", 0) == max_id + 1
    await log_engine.dispose()
    empty = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    await create_schema(empty)
    async with empty.connect() as conn:
        assert await first_id_since(conn, "a", 0) == 0
    records, _tracker = await replay_log(empty, "a", since_ms=0)
    assert records == []
    await empty.dispose()


async def test_sqlite_walks_the_rowids_not_the_pbx_index(sqlite_log: AsyncEngine) -> None:
    """Every query of the replay reads by primary key: no full read of the PBX's rows
    through the (pbx_id, digest) index, no sort of them by id."""
    seen: list[tuple[str, object]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many) -> None:
        if "ami_events" in statement and "received_ms" in statement:
            seen.append((statement, parameters))

    sa.event.listen(sqlite_log.sync_engine, "before_cursor_execute", record)
    try:
        await replay_log(sqlite_log, "a", since_ms=1_795_900_000_000 + 30 * MINUTE)
    finally:
        sa.event.remove(sqlite_log.sync_engine, "before_cursor_execute", record)
    assert len(seen) >= 5  # the probes and the replay itself
    async with sqlite_log.connect() as conn:
        for statement, parameters in seen:
            plan = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)  # type: ignore[arg-type]
            details = " ".join(str(row[-1]) for row in plan)
            assert "PRIMARY KEY" in details and "TEMP B-TREE" not in details, details
    await sqlite_log.dispose()
