"""Benchmark of the monthly report: N synthetic calls (default 1,000,000) in one month,
into SQLite and PostgreSQL; times the monthly summary and the XLSX export, and reports the
process's peak RSS (``VmHWM``) before and after the export.

    .venv/bin/python bench/report.py                       # 1M calls, SQLite + PostgreSQL
    .venv/bin/python bench/report.py --calls 100000 --no-pg --no-xlsx
    .venv/bin/python bench/report.py --reuse --no-xlsx --repeat 9   # time again, no reload

PostgreSQL: a database ``centralita_bench`` is (re)created on the server of
``--pg-admin`` (default the test server at 127.0.0.1:5432, database ``test``).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from centralita.ami_listener.schema import calls
from centralita.ami_listener.store import create_schema, make_engine
from centralita.metrics.periods import Period
from centralita.metrics.queries import ReportRequest, fetch_buckets, iter_detail, monthly_report
from centralita.metrics.schema import create_schema as create_metrics_schema
from centralita.metrics.service_level import CountingRules

MONTH = "2026-11"
SERVICES = (
    ("101", 30),
    ("102", 22),
    ("104", 10),
    ("800131313", 9),
    ("103", 7),
    ("4639999", 6),
    ("4251000", 5),
    ("4200224", 4),
    ("4522222", 4),
    ("800130001", 3),
)
# Calls per hour of day (relative): quiet nights, busy mornings and afternoons.
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 14, 13, 10, 11, 13, 13, 12, 10, 8, 6, 4, 3, 2, 1)


def synthetic_calls(n: int, period: Period, seed: int = 2027) -> Iterator[dict[str, Any]]:
    """N deterministic call rows spread over the period."""
    rng = random.Random(seed)
    keys = [s for s, _ in SERVICES]
    weights = [w for _, w in SERVICES]
    days = period.days
    start = period.start_ms
    agents = [f"Agent {i}" for i in range(1, 41)]
    for i in range(n):
        day = rng.randrange(days)
        hour = rng.choices(range(24), HOUR_WEIGHTS)[0]
        entered = start + ((day * 24 + hour) * 3600 + rng.randrange(3600)) * 1000
        entered += rng.randrange(1000)
        service = rng.choices(keys, weights)[0]
        wait_ms = int(rng.expovariate(1 / 12.0) * 1000)
        roll = rng.random()
        if roll < 0.82:
            outcome = "transferred" if roll < 0.01 else "answered"
        elif roll < 0.95:
            outcome = "abandoned"
        elif roll < 0.97:
            outcome = "timeout"
        elif roll < 0.985:
            outcome = "exit-with-key"
        elif roll < 0.997:
            outcome = "exit-empty"
        elif roll < 0.999:
            outcome = "cut"  # waiting when the PBX went down: wait and end unknown
        else:
            outcome = "unknown"  # left during an AMI outage: how and when unknown
        answered = outcome in ("answered", "transferred")
        talk_ms = int(rng.uniform(20, 400) * 1000) if answered else None
        wait_s: int | None = math.floor((entered + wait_ms) / 1000) - math.floor(entered / 1000)
        wait: int | None = wait_ms
        ended: int | None = entered + wait_ms + (talk_ms or 0)
        marks = ""
        if outcome in ("cut", "unknown"):
            wait = wait_s = ended = None
            marks = "ended_at" if outcome == "cut" else "left_at,outcome,ended_at"
        yield {
            "pbx_id": "bench",
            "uniqueid": f"{entered // 1000}.{i}",
            "linkedid": f"{entered // 1000}.{i}",
            "service": service,
            "exten": service,
            "queue": f"q{service}",
            "queues": f"q{service}",
            "caller_num": f"7{rng.randrange(10_000_000):07d}",
            "caller_name": "",
            "entered_at_ms": entered,
            "answered_at_ms": entered + wait_ms if answered else None,
            "ended_at_ms": ended,
            "wait_ms": wait,
            "wait_asterisk_s": wait_s,
            "holdtime_s": wait_s if answered else None,
            "talk_ms": talk_ms,
            "asterisk_talk_s": None if talk_ms is None else talk_ms // 1000,
            "agent_interface": "",
            "agent_name": rng.choice(agents) if answered else "",
            "ring_no_answer": 0,
            "join_position": 1,
            "abandon_position": None,
            "outcome": outcome,
            "transferred": outcome == "transferred",
            "ivr": None,
            "resynced": bool(marks),
            "gap": bool(marks),
            "source": "ami",
            "marks": marks,
        }


def batches(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


async def fill_sqlite(path: Path, n: int, period: Period) -> float:
    """Create the schema and load N calls with the stdlib driver (fast bulk path)."""
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    await create_schema(engine)
    await engine.dispose()
    t0 = time.perf_counter()
    sync = sa.create_engine(f"sqlite:///{path}")
    with sync.begin() as conn:
        for batch in batches(synthetic_calls(n, period), 50_000):
            conn.execute(sa.insert(calls), batch)
    sync.dispose()
    loaded = time.perf_counter() - t0
    t0 = time.perf_counter()
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    await create_metrics_schema(engine)  # + the covering report index
    async with engine.begin() as conn:
        await conn.exec_driver_sql("ANALYZE")
    await engine.dispose()
    print(f"sqlite report index + ANALYZE: {time.perf_counter() - t0:.1f} s")
    return loaded


async def fill_postgres(admin: str, name: str, n: int, period: Period) -> tuple[str, float]:
    """(Re)create a database and COPY N calls into it."""
    import asyncpg

    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = admin.rsplit("/", 1)[0]
    url = pg_url(admin, name)
    engine = make_engine(url)
    await create_schema(engine)
    await engine.dispose()
    t0 = time.perf_counter()
    columns = [c.name for c in calls.columns]
    raw = await asyncpg.connect(f"{base}/{name}")
    try:
        for batch in batches(synthetic_calls(n, period), 100_000):
            await raw.copy_records_to_table(
                "calls", records=[tuple(r[c] for c in columns) for r in batch], columns=columns
            )
    finally:
        await raw.close()
    loaded = time.perf_counter() - t0
    t0 = time.perf_counter()
    engine = make_engine(url)
    await create_metrics_schema(engine)
    # VACUUM sets the visibility map, as autovacuum does on a live database: without it
    # PostgreSQL's index-only scan of ix_calls_report visits the table for every row.
    async with engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.exec_driver_sql("VACUUM ANALYZE calls")
    await engine.dispose()
    print(f"postgresql report index + VACUUM ANALYZE: {time.perf_counter() - t0:.1f} s")
    return url, loaded


def peak_rss_mb() -> float:
    """The process's peak resident set size so far, in MB (``VmHWM``, else ``ru_maxrss``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pg_url(admin: str, name: str) -> str:
    """The asyncpg URL of database ``name`` on the server of ``admin``."""
    base = admin.rsplit("/", 1)[0]
    return f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"


async def time_report(url: str, period: Period, *, xlsx: bool, repeat: int) -> dict[str, float]:
    """Seconds for the summary (first, best and median of ``repeat``), its query alone,
    and the XLSX export."""
    engine = make_engine(url)
    request = ReportRequest(period, CountingRules())
    out: dict[str, float] = {}
    try:
        t0 = time.perf_counter()
        report = await monthly_report(engine, request, software_version="bench")
        times = [time.perf_counter() - t0]
        for _ in range(repeat - 1):
            t0 = time.perf_counter()
            await monthly_report(engine, request, software_version="bench")
            times.append(time.perf_counter() - t0)
        out["summary_first_s"] = times[0]
        out["summary_best_s"] = min(times)
        out["summary_median_s"] = statistics.median(times)
        query_times = []
        async with engine.connect() as conn:
            for _ in range(repeat):
                t0 = time.perf_counter()
                await fetch_buckets(conn, period, request.rules)
                query_times.append(time.perf_counter() - t0)
        out["query_best_s"] = min(query_times)
        out["calls"] = report.total.counts.entered
        out["sl_percent"] = report.total.indicator.sl_percent or 0.0
        t0 = time.perf_counter()
        await monthly_report(
            engine, ReportRequest(period, CountingRules(wait_basis="exact", short_abandon_s=5))
        )
        out["summary_other_rules_s"] = time.perf_counter() - t0
        if xlsx:
            from centralita.metrics.export_xlsx import write_xlsx

            with tempfile.TemporaryDirectory() as tmp:
                target = Path(tmp) / "report.xlsx"
                out["peak_rss_before_xlsx_mb"] = peak_rss_mb()
                t0 = time.perf_counter()
                async with engine.connect() as conn:
                    rows = await write_xlsx(report, target, iter_detail(conn, request))
                out["xlsx_s"] = time.perf_counter() - t0
                out["peak_rss_mb"] = peak_rss_mb()
                out["xlsx_rows"] = rows
                out["xlsx_mb"] = target.stat().st_size / 1e6
    finally:
        await engine.dispose()
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--sqlite", type=Path, default=Path(tempfile.gettempdir()) / "bench.db")
    parser.add_argument("--pg-admin", default="postgresql://127.0.0.1:5432/test")
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--no-xlsx", action="store_true")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--reuse", action="store_true", help="time the databases of an earlier run, no reload"
    )
    args = parser.parse_args()
    period = Period.month(MONTH)
    print(f"# bench/report.py — {args.calls:,} calls in {MONTH}, {datetime.now(UTC):%Y-%m-%d}")
    if not (args.reuse and args.sqlite.exists()):
        args.sqlite.unlink(missing_ok=True)
        load = await fill_sqlite(args.sqlite, args.calls, period)
        print(f"sqlite load: {load:.1f} s")
    figures = await time_report(
        f"sqlite+aiosqlite:///{args.sqlite}", period, xlsx=not args.no_xlsx, repeat=args.repeat
    )
    print("sqlite", {k: round(v, 3) for k, v in figures.items()})
    if not args.no_pg:
        url = pg_url(args.pg_admin, "centralita_bench")
        if not args.reuse:
            url, load = await fill_postgres(args.pg_admin, "centralita_bench", args.calls, period)
            print(f"postgresql load: {load:.1f} s")
        figures = await time_report(url, period, xlsx=not args.no_xlsx, repeat=args.repeat)
        print("postgresql", {k: round(v, 3) for k, v in figures.items()})


if __name__ == "__main__":
    asyncio.run(main())
