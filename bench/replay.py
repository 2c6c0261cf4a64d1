"""Daemon start-up replay on a large event log (SQLite).

    .venv/bin/python bench/replay.py [--events 2000000] [--window-min 60] [--cold]

Fills a SQLite log with synthetic rows (one PBX, 20 events/s, event text of the usual
size), then times ``replay_log`` for the last ``--window-min`` minutes, as the daemon does
at start, and the same selection by the former plan (``received_ms`` over the whole log)
for comparison. ``--cold`` (root) empties the OS page cache before each measurement, as
after a reboot.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection

from centralita.ami_listener.ingest import first_id_since, replay_log
from centralita.ami_listener.store import create_schema, make_engine

_RAW = "Event: Newexten\nPrivilege: dialplan,all\nTimestamp: {ts:.6f}\n" + "X: y\n" * 20


def fill(path: Path, events: int) -> int:
    """Rows at 20 events/s ending now; returns the last received_ms."""
    conn = sqlite3.connect(path)
    end_ms = int(time.time() * 1000)
    start_ms = end_ms - events * 50
    rows = (
        ("pbx", i.to_bytes(16, "big"), "Newexten", ms, ms, _RAW.format(ts=ms / 1000))
        for i, ms in enumerate(range(start_ms, start_ms + events * 50, 50))
    )
    conn.executemany(  # executemany consumes the generator: no list of 2M rows
        "INSERT INTO ami_events (pbx_id, digest, event, ts_ms, received_ms, raw)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.commit()
    conn.close()
    return end_ms


def drop_caches(cold: bool) -> None:
    """Empty the OS page cache (root only), so that reads come from the disk."""
    if cold:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")


async def timed_select(
    conn: AsyncConnection, label: str, sql: str, params: tuple[object, ...], t0: float
) -> None:
    """Fetch every row of ``sql`` and print how long it took since ``t0``."""
    n = len((await conn.exec_driver_sql(sql, params)).all())
    print(f"{label}: {n:,} rows in {time.perf_counter() - t0:.3f} s")


async def run(events: int, window_min: int, cold: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.db"
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
        await create_schema(engine)
        t0 = time.perf_counter()
        end_ms = fill(path, events)
        print(
            f"log: {events:,} rows, {path.stat().st_size / 1e6:.0f} MB, filled in"
            f" {time.perf_counter() - t0:.1f} s"
        )
        since = end_ms - window_min * 60_000
        async with engine.connect() as conn:
            drop_caches(cold)
            t0 = time.perf_counter()
            start = await first_id_since(conn, "pbx", since)
            await timed_select(
                conn,
                "selection now (bisection, then the id range)",
                "SELECT raw, received_ms FROM ami_events WHERE +pbx_id = ? AND id >= ?"
                " AND received_ms >= ? ORDER BY id",
                ("pbx", start, since),
                t0,
            )
            drop_caches(cold)
            await timed_select(
                conn,
                "selection before (received_ms filter, the planner's plan)",
                "SELECT raw, received_ms FROM ami_events WHERE pbx_id = ? AND received_ms >= ?"
                " ORDER BY id",
                ("pbx", since),
                time.perf_counter(),
            )
        drop_caches(cold)
        t0 = time.perf_counter()
        await replay_log(engine, "pbx", since_ms=since)
        print(
            f"replay_log, last {window_min} min (selection, parsing, tracking):"
            f" {time.perf_counter() - t0:.3f} s"
        )
        await engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--window-min", type=int, default=60)
    parser.add_argument("--cold", action="store_true", help="empty the page cache (root)")
    args = parser.parse_args()
    asyncio.run(run(args.events, args.window_min, args.cold))
    return 0


if __name__ == "__main__":
    sys.exit(main())
