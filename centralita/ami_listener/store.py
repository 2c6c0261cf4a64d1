"""The event store: append-only event log + call records, SQLAlchemy 2 async.

SQLite (WAL) by default, PostgreSQL by URL, with the same code. Writes are idempotent: an
event is identified by (pbx_id, digest of its bytes) and inserted with ON CONFLICT DO
NOTHING; a call record is an upsert on (pbx_id, uniqueid). So the same stream ingested
twice produces no duplicates.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import msgspec
import sqlalchemy as sa
import structlog
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from centralita.ami_listener.eventlog import EventRow, span_rows_ms
from centralita.ami_listener.protocol import speedups
from centralita.ami_listener.records import CallRecord, ms
from centralita.ami_listener.schema import (
    ami_events,
    calls,
    ivr_calls,
    metadata,
    queue_entries,
    write_rejects,
)
from centralita.ami_listener.storable import (
    QUEUE_CHARS,
    UNIQUEID_CHARS,
    error_code,
    error_text,
    row_rejected,
    storable_events,
    storable_row,
    storable_text,
)
from centralita.ami_listener.tracker import IvrHangup

_json = msgspec.json.Encoder()
log = structlog.get_logger(__name__)


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create an async engine; SQLite gets WAL, a busy timeout and foreign keys.

    Server databases get ``pool_pre_ping``: a pooled connection that a restart or a
    failover closed is replaced before use instead of failing the next query.
    """
    if not url.startswith("sqlite"):
        kwargs.setdefault("pool_pre_ping", True)
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        sa_event.listen(engine.sync_engine, "do_connect", _aiosqlite_creator)
        sa_event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


FAILED_CONNECT_WAIT_S = 1.0


def _aiosqlite_creator(_dialect: Any, _rec: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
    cparams["async_creator_fn"] = _aiosqlite_connect


def _aiosqlite_connect(*args: Any, **kwargs: Any) -> Any:
    """``aiosqlite.connect``, except that a failed open waits (bounded) for the connection's
    worker thread to end. aiosqlite stops that thread without waiting for it; if the event
    loop closed first (a command that fails and exits), the thread died with "Event loop is
    closed" printed as a traceback."""
    import aiosqlite

    conn = aiosqlite.connect(*args, **kwargs)
    thread = getattr(conn, "_thread", None)
    if isinstance(thread, threading.Thread):
        thread.daemon = True  # as SQLAlchemy's own creator does: never blocks exit

    async def opened() -> Any:
        try:
            return await conn
        except BaseException:
            if isinstance(thread, threading.Thread) and thread.is_alive():
                await asyncio.to_thread(thread.join, FAILED_CONNECT_WAIT_S)
            raise

    return opened()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # 8 KiB pages for a new file (the log's rows are ~0.5 KB; a no-op on an existing one):
    # measured 1 µs less per stored event than 4 KiB.
    cur.execute("PRAGMA page_size=8192")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


WRITER_CACHE_KIB = 8192
CHECKPOINT_WAL_BYTES = 8 << 20  # SQLite's own default: 1000 pages of 8 KiB
CHECKPOINT_MAX_WAL_BYTES = 64 << 20


def _writer_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # The one connection that writes the log: a page cache that holds the right edge of
    # its indexes (SQLite's default is 2 MiB); it never checkpoints itself (Checkpointer).
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
    cur.execute("PRAGMA wal_autocheckpoint=0")
    cur.close()


class Checkpointer:
    """Copies the SQLite write-ahead log back into the database file, in its own thread.

    With SQLite's automatic checkpoint, the commit that crosses 1000 pages of log copies
    them and waits for the disk (fsync) before the writer can go on. Here a PASSIVE
    checkpoint (it never blocks the writer) runs beside it, when the writer has been idle
    for ``idle_s`` with more than ``wal_bytes`` of log, or at once past ``max_wal_bytes``:
    a burst (a reconnect's backlog) is written first and its log copied back after, and
    the log never grows past about ``max_wal_bytes``. A failed checkpoint is logged and
    tried again later: the log only grows meanwhile.
    """

    def __init__(
        self,
        path: str,
        wal_bytes: int = CHECKPOINT_WAL_BYTES,
        max_wal_bytes: int = CHECKPOINT_MAX_WAL_BYTES,
        idle_s: float = 0.5,
    ) -> None:
        self.path = path
        self.wal_bytes = wal_bytes
        self.max_wal_bytes = max_wal_bytes
        self.idle_s = idle_s
        self.checkpoints = 0
        self._wake = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        """A write transaction committed."""
        self._wake.set()

    def _due(self, busy: bool) -> bool:
        try:
            size = os.path.getsize(self.path + "-wal")
        except OSError:
            return False
        if self._stop or not busy:
            return size >= self.wal_bytes
        return size >= self.max_wal_bytes

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        failing = False
        try:
            while not self._stop:
                busy = self._wake.wait(self.idle_s)
                self._wake.clear()
                if not self._due(busy):
                    continue
                try:
                    if conn is None:
                        conn = sqlite3.connect(self.path, timeout=5, check_same_thread=False)
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                    if failing:
                        log.info("sqlite_checkpoint_restored", path=self.path)
                        failing = False
                except sqlite3.Error as exc:
                    if not failing:
                        log.warning("sqlite_checkpoint_failed", reason=str(exc)[:200])
                        failing = True
                    time.sleep(self.idle_s)
        finally:
            if conn is not None:
                conn.close()

    def close(self) -> None:
        """Stop the thread after one last checkpoint (if the log is large)."""
        self._stop = True
        self._wake.set()
        self._thread.join(30)


async def create_schema(engine: AsyncEngine) -> None:
    """Create the ingest tables if missing: for tests and benchmarks only.

    Nothing in production calls it: the CLI and the daemon bring the database to
    Alembic head (``centralita.db.migrate``), the one schema path.
    """
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)


def _insert(conn: sa.Connection, table: sa.Table) -> Any:
    """Dialect-specific INSERT that supports ON CONFLICT."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


EVENT_COLUMNS = (
    "pbx_id",
    "digest",
    "event",
    "ts_ms",
    "received_ms",
    "uniqueid",
    "linkedid",
    "queue",
    "raw",
)
_SQLITE_INSERT = (
    "INSERT OR IGNORE INTO ami_events"
    " (pbx_id, digest, event, ts_ms, received_ms, uniqueid, linkedid, queue, raw)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SQLITE_CHUNK = 500  # 9 parameters a row: well under SQLite's 32,766 variables


# NULLIF: missing values travel as -1 and "" (py_sqlite_params), types that Python's
# sqlite3 binds without an adapter lookup.
_SQLITE_ROW = "(?, ?, ?, NULLIF(?, -1), ?, NULLIF(?, ''), NULLIF(?, ''), NULLIF(?, ''), ?)"


@functools.lru_cache(maxsize=8)
def _sqlite_multi(n: int) -> str:
    """INSERT OR IGNORE of ``n`` rows in one statement (parameters: py_sqlite_params)."""
    return _SQLITE_INSERT.replace(
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", " VALUES " + ", ".join([_SQLITE_ROW] * n)
    )


def py_sqlite_params(rows: list[EventRow]) -> tuple[Any, ...]:
    """Flat parameters of :func:`_sqlite_multi` for log rows (the reference implementation
    of ``_speedups.sqlite_params``): bytes and None make Python's sqlite3 look for an
    adapter, so the digest goes as a bytearray and a missing value as -1 or ""."""
    out: list[Any] = []
    for pbx_id, digest, event, ts_ms, received_ms, uniqueid, linkedid, queue, raw in rows:
        out += (
            pbx_id,
            bytearray(digest),
            event,
            -1 if ts_ms is None else ts_ms,
            received_ms,
            "" if uniqueid is None else uniqueid,
            "" if linkedid is None else linkedid,
            "" if queue is None else queue,
            raw,
        )
    return tuple(out)


_sqlite_params: Callable[[list[EventRow]], tuple[Any, ...]] = py_sqlite_params
if speedups is not None:
    _sqlite_params = speedups.sqlite_params


def _load_sqlitelog() -> ModuleType | None:
    """The C writer of log rows into SQLite, or None: not built, CENTRALITA_NO_SPEEDUPS,
    or a Python whose sqlite3 module carries its own copy of SQLite (two copies in one
    process would not see each other's locks on the file)."""
    if speedups is None:  # the same switch as the other C code
        return None
    try:
        module = importlib.import_module("centralita.ami_listener._sqlitelog")
        python_sqlite = importlib.import_module("_sqlite3").__file__
    except ImportError:  # pragma: no cover - depends on the build machine
        return None
    if python_sqlite is None or not module.same_library_as(python_sqlite):
        log.warning("sqlite_c_writer_disabled", reason="Python's sqlite3 uses another SQLite")
        return None
    return module


_sqlitelog = _load_sqlitelog()


_PG_INSERT = (
    "INSERT INTO ami_events"
    " (pbx_id, digest, event, ts_ms, received_ms, uniqueid, linkedid, queue, raw)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (pbx_id, digest) DO NOTHING"
)


def call_rows(record: CallRecord) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The `calls` row and the `queue_entries` rows of a record."""
    wait = record.wait_s
    call = {
        "pbx_id": record.pbx_id,
        "uniqueid": record.uniqueid,
        "linkedid": record.linkedid,
        "service": record.service,
        "exten": record.exten,
        "queue": record.queue,
        "queues": ",".join(record.queues),
        "caller_num": record.caller_num,
        "caller_name": record.caller_name,
        "entered_at_ms": ms(record.entered_at),
        "answered_at_ms": ms(record.answered_at),
        "ended_at_ms": ms(record.ended_at),
        "wait_ms": None if wait is None else round(wait * 1000),
        "wait_asterisk_s": record.wait_asterisk_s,
        "holdtime_s": record.holdtime_s,
        "talk_ms": None if record.talk_s is None else round(record.talk_s * 1000),
        "asterisk_talk_s": record.asterisk_talk_s,
        "agent_interface": record.agent_interface,
        "agent_name": record.agent_name,
        "ring_no_answer": record.ring_no_answer,
        "join_position": record.join_position,
        "abandon_position": record.abandon_position,
        "outcome": record.outcome or "abandoned",
        "transferred": record.transferred,
        "ivr": None if record.ivr is None else _json.encode(record.ivr).decode("utf-8"),
        "resynced": record.resynced,
        "gap": record.gap,
        "source": record.source,
        "marks": ",".join(record.marks),
    }
    entries = []
    for seq, entry in enumerate(record.entries):
        e_wait = entry.wait_s
        entries.append(
            {
                "pbx_id": record.pbx_id,
                "uniqueid": record.uniqueid,
                "seq": seq,
                "queue": entry.queue,
                "service": entry.service,
                "entered_at_ms": ms(entry.entered_at),
                "left_at_ms": ms(entry.left_at),
                "answered_at_ms": ms(entry.answered_at),
                "outcome": entry.outcome,
                "hold_time_s": entry.hold_time_s,
                "wait_ms": None if e_wait is None else round(e_wait * 1000),
                "wait_asterisk_s": entry.wait_asterisk_s,
                "join_position": entry.join_position,
                "leave_position": entry.leave_position,
                "original_position": entry.original_position,
                "agent_interface": entry.agent_interface,
                "agent_name": entry.agent_name,
                "ring_no_answer": entry.ring_no_answer,
                "exit_key": entry.exit_key,
                "talk_ms": None if entry.talk_s is None else round(entry.talk_s * 1000),
            }
        )
    return call, entries


def insert_events(conn: sa.Connection, rows: Sequence[EventRow]) -> None:
    """Append events; ones already stored (same pbx and digest) are skipped.

    Goes straight to the driver's executemany: this is the hot path of ingestion. Values
    are made storable first (:func:`ami_listener.storable.storable_events`).
    """
    if not rows:
        return
    rows = storable_events(rows)
    if conn.dialect.name == "sqlite":
        # Multi-row statements: one sqlite3 step (one GIL release) per chunk, not per row,
        # so the writer thread does not queue for the GIL behind the reading thread.
        for start in range(0, len(rows), _SQLITE_CHUNK):
            chunk = list(rows[start : start + _SQLITE_CHUNK])
            conn.exec_driver_sql(_sqlite_multi(len(chunk)), _sqlite_params(chunk))
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(_PG_INSERT, list(rows))
    else:
        stmt = _insert(conn, ami_events).on_conflict_do_nothing(index_elements=["pbx_id", "digest"])
        conn.execute(stmt, [dict(zip(EVENT_COLUMNS, r, strict=True)) for r in rows])


def upsert_calls(conn: sa.Connection, records: Iterable[CallRecord]) -> int:
    """Insert or replace call records and their queue entries. Returns the count."""
    call_list: list[dict[str, Any]] = []
    entry_list: list[dict[str, Any]] = []
    keys: list[tuple[str, str]] = []
    for record in records:
        call, entries = call_rows(record)
        call_list.append(storable_row(calls, call))
        entry_list.extend(storable_row(queue_entries, entry) for entry in entries)
        keys.append((record.pbx_id, record.uniqueid))
    if not call_list:
        return 0
    # Replace: delete then insert, in the caller's transaction (portable and idempotent).
    dialect = conn.dialect.name
    for pbx_id in {k[0] for k in keys}:
        ids = [k[1] for k in keys if k[0] == pbx_id]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for table in (queue_entries, calls):
                if dialect == "sqlite":  # the driver directly: built once per chunk size
                    conn.exec_driver_sql(
                        _sqlite_delete_sql(table.name, len(chunk)), (pbx_id, *chunk)
                    )
                else:
                    conn.execute(
                        sa.delete(table).where(
                            table.c.pbx_id == pbx_id, table.c.uniqueid.in_(chunk)
                        )
                    )
    _insert_rows(conn, calls, call_list)
    _insert_rows(conn, queue_entries, entry_list)
    return len(call_list)


@functools.lru_cache(maxsize=64)
def _sqlite_delete_sql(table: str, n: int) -> str:
    # Table names come from our own schema, never from input.
    marks = ", ".join("?" * n)
    return f"DELETE FROM {table} WHERE pbx_id = ? AND uniqueid IN ({marks})"  # noqa: S608


@functools.lru_cache(maxsize=16)
def _driver_insert_sql(table: str, columns: tuple[str, ...], dialect: str) -> str:
    marks = (
        ", ".join(f"${i}" for i in range(1, len(columns) + 1))
        if dialect == "postgresql"
        else ", ".join("?" * len(columns))
    )
    # Table and column names come from our own schema, never from input.
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608


def _insert_rows(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Plain INSERT of dict rows (same keys) through the driver's executemany.

    SQLAlchemy's per-row parameter processing cost as much as the rest of a batch; these
    values are already what the driver takes (str, int, bool, None).
    """
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        conn.execute(sa.insert(table), rows)
        return
    columns = tuple(rows[0])
    conn.exec_driver_sql(
        _driver_insert_sql(table.name, columns, dialect),
        [tuple(row.values()) for row in rows],
    )


@dataclass
class Batch:
    """One write: log rows, finished calls, IVR hang-ups.

    ``spans`` are event frames still as bytes (``eventlog.join_frames``, with their
    receipt time in ms), logged under ``pbx_id``: on a SQLite file they go straight into
    the log through the C writer (``ami_listener._sqlitelog``), elsewhere they become rows.
    """

    events: list[EventRow]
    calls: list[CallRecord] = field(default_factory=list)
    ivr_hangups: list[IvrHangup] = field(default_factory=list)
    spans: list[tuple[bytes, int]] = field(default_factory=list)
    pbx_id: str = ""

    def with_span_rows(self) -> Batch:
        """The batch with its spans turned into log rows (for the row-based writers)."""
        if not self.spans:
            return self
        events = list(self.events)
        for span, received_ms in self.spans:
            events.extend(span_rows_ms(self.pbx_id, span, received_ms))
        return Batch(events, self.calls, self.ivr_hangups)


def insert_ivr_hangups(conn: sa.Connection, rows: Sequence[IvrHangup]) -> None:
    """Record the calls that ended before any queue (idempotent on pbx and uniqueid):
    hang-ups in the IVR, and calls the IVR sent elsewhere (``hung_up_before_queue``
    false)."""
    if not rows:
        return
    stmt = _insert(conn, ivr_calls).on_conflict_do_nothing(index_elements=["pbx_id", "uniqueid"])
    conn.execute(
        stmt,
        [
            storable_row(
                ivr_calls,
                {
                    "pbx_id": r.pbx_id,
                    "uniqueid": r.uniqueid,
                    "service": r.service,
                    "started_at_ms": ms(r.started_at),
                    "caller_num": r.caller_num,
                    "hung_up_before_queue": not r.derived,
                },
            )
            for r in rows
        ],
    )


def _latest_calls(records: Iterable[CallRecord]) -> list[CallRecord]:
    # A record can be finished twice in one batch only through a replay: keep the last.
    latest: dict[tuple[str, str], CallRecord] = {}
    for record in records:
        latest[(record.pbx_id, record.uniqueid)] = record
    return list(latest.values())


def write_batch_sync(conn: sa.Connection, batch: Batch) -> None:
    """Write one batch of events, finished calls and IVR hang-ups (caller's transaction)."""
    insert_events(conn, batch.events)
    upsert_calls(conn, _latest_calls(batch.calls))
    insert_ivr_hangups(conn, batch.ivr_hangups)


@dataclass(frozen=True)
class Reject:
    """A row the database refused, as stored in ``write_rejects``."""

    pbx_id: str
    kind: str  # event | call | ivr
    error: str
    payload: str


# One row of a batch: (kind, the row).
_Unit = tuple[str, Any]


def _payload(kind: str, row: Any) -> str:
    """The rejected row as JSON text (an event's digest in hex)."""
    obj: Any = row
    if kind == "event":
        pbx_id, digest, event, ts_ms, received_ms, uniqueid, linkedid, queue, raw = row
        obj = {
            "pbx_id": pbx_id,
            "digest": bytes(digest).hex(),
            "event": event,
            "ts_ms": ts_ms,
            "received_ms": received_ms,
            "uniqueid": uniqueid,
            "linkedid": linkedid,
            "queue": queue,
            "raw": raw,
        }
    try:
        # JSON escapes NUL and control characters; a lone surrogate fails: repr() then.
        return _json.encode(obj).decode("utf-8")
    except (TypeError, ValueError):
        return storable_text(repr(obj))


def _reject(unit: _Unit, exc: BaseException) -> Reject:
    kind, row = unit
    pbx_id = row[0] if kind == "event" else row.pbx_id
    return Reject(str(pbx_id), kind, error_text(exc, 2000), _payload(kind, row))


def _units(batch: Batch) -> list[_Unit]:
    return (
        [("event", row) for row in batch.events]
        + [("call", record) for record in _latest_calls(batch.calls)]
        + [("ivr", hangup) for hangup in batch.ivr_hangups]
    )


def _batch_of(units: list[_Unit]) -> Batch:
    return Batch(
        [row for kind, row in units if kind == "event"],
        [row for kind, row in units if kind == "call"],
        [row for kind, row in units if kind == "ivr"],
    )


def write_isolating(conn: sa.Connection, batch: Batch) -> list[Reject]:
    """Write a batch the database refused, setting its bad rows aside.

    ``conn`` has no transaction open. The batch is split in halves, recursively, each part
    in its own transaction, until every part is written or is one row the database still
    refuses; those rows go to ``write_rejects`` with the database's error (and are logged,
    their values not), the rest is stored. Spans must already be rows
    (:meth:`Batch.with_span_rows`). An outage meanwhile raises (the caller retries the
    whole batch: the log ignores what it already holds, a call is replaced).
    """
    rejects: list[Reject] = []
    todo = [_units(batch)]
    while todo:
        part = todo.pop()
        if not part:
            continue
        try:
            with conn.begin():
                write_batch_sync(conn, _batch_of(part))
        except Exception as exc:
            if not row_rejected(exc):
                raise
            if len(part) > 1:
                half = len(part) // 2
                todo += (part[half:], part[:half])  # the first half next: order kept
                continue
            rejects.append(_reject(part[0], exc))
            kind, row = part[0]
            log.error(
                "store_row_rejected",
                kind=kind,
                pbx_id=rejects[-1].pbx_id,
                code=error_code(exc),
                uniqueid=row[5] if kind == "event" else row.uniqueid,
            )
    if rejects:
        store_rejects(conn, rejects)
    return rejects


def store_rejects(conn: sa.Connection, rejects: list[Reject]) -> None:
    """Insert rows into the dead-letter table (their own transaction)."""
    at_ms = int(time.time() * 1000)
    rows = [
        {
            "pbx_id": r.pbx_id,
            "kind": r.kind,
            "error": storable_text(r.error),
            "payload": storable_text(r.payload),
            "at_ms": at_ms,
        }
        for r in rejects
    ]
    with conn.begin():
        conn.execute(sa.insert(write_rejects), rows)


async def write_batch(engine: AsyncEngine, batch: Batch) -> list[Reject]:
    """Write one batch in one transaction, through the async engine; a batch the database
    refuses for its values is written part by part (:func:`write_isolating`). Returns the
    rows it set aside."""
    try:
        async with engine.begin() as conn:
            await conn.run_sync(write_batch_sync, batch)
    except Exception as exc:
        if not row_rejected(exc):
            raise
        async with engine.connect() as conn:
            return await conn.run_sync(write_isolating, batch)
    return []


class WriteRetry:
    """Backoff and the healthy ↔ failing transitions of a batched writer.

    An outage is logged once as an error (``store_write_failed``), each retry at debug
    level, the recovery once (``store_write_restored``).
    """

    def __init__(self, max_s: float, first_s: float = 0.2) -> None:
        self.max_s = max_s
        self.first_s = first_s
        self.delay = first_s
        self.failing = False

    def failed(self, exc: Exception, buffered: int) -> float:
        """Note a failed write; returns how long to wait before the next attempt."""
        if not self.failing:
            log.error("store_write_failed", reason=error_text(exc, 200), buffered=buffered)
            self.failing = True
        else:
            log.debug("store_write_retried", reason=error_text(exc, 200))
        delay = self.delay
        self.delay = min(self.max_s, delay * 2)
        return delay

    def succeeded(self, buffered: int) -> None:
        """Note a successful write."""
        self.delay = self.first_s
        if self.failing:
            log.info("store_write_restored", buffered=buffered)
            self.failing = False


class BatchWriter:
    """Writes batches for the listener.

    On SQLite the whole batch is written by one worker-thread job on a synchronous
    connection to the same file (WAL), so the writer never waits for the event loop
    between statements while the reading side is busy; elsewhere it uses the async
    engine.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sync: sa.Engine | None = None
        self._checkpointer: Checkpointer | None = None
        self._span_writers: dict[str, Any] = {}
        if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
            self._sync = sa.create_engine(engine.url.set(drivername="sqlite"))
            sa_event.listen(self._sync, "connect", _sqlite_pragmas)
            sa_event.listen(self._sync, "connect", _writer_pragmas)

    @property
    def blocking_ok(self) -> bool:
        """True when :meth:`write_blocking` is available (a SQLite file)."""
        return self._sync is not None

    def write_blocking(self, batch: Batch) -> list[Reject]:
        """Write one batch, in the calling thread (SQLite file only): its spans through the
        C log writer when built (its own transaction, first), the rest in one
        transaction. An outage fails the whole batch, which is written again whole (the
        log ignores what it already holds); rows the database refuses are set aside
        (:func:`write_isolating`) and returned."""
        assert self._sync is not None
        try:
            self._write_whole(batch)
        except Exception as exc:
            if not row_rejected(exc):
                raise
            with self._sync.connect() as conn:
                rejects = write_isolating(conn, batch.with_span_rows())
        else:
            rejects = []
        if self._checkpointer is None:  # started by the first write: only writers have one
            self._checkpointer = Checkpointer(str(self._sync.url.database))
        self._checkpointer.committed()
        return rejects

    def _write_whole(self, batch: Batch) -> None:
        assert self._sync is not None
        if batch.spans:
            log_writer = self._span_writer(batch.pbx_id)
            if log_writer is not None:
                log_writer.write(batch.spans)
                batch = Batch(batch.events, batch.calls, batch.ivr_hangups)
            else:
                batch = batch.with_span_rows()
        with self._sync.begin() as conn:
            write_batch_sync(conn, batch)

    async def write(self, batch: Batch) -> list[Reject]:
        """Write one batch in one transaction (rows the database refuses are set aside
        and returned; an outage raises)."""
        if self._sync is not None:
            return await asyncio.to_thread(self.write_blocking, batch)
        return await write_batch(self.engine, batch.with_span_rows())

    def _span_writer(self, pbx_id: str) -> Any:
        """The C event-log writer for ``pbx_id`` (opened on first use), or None when the
        extension is not built. An open that fails raises: the batch is retried."""
        if _sqlitelog is None or self._sync is None:
            return None
        writer = self._span_writers.get(pbx_id)
        if writer is None:
            writer = _sqlitelog.EventLogWriter(
                str(self._sync.url.database),
                pbx_id,
                cache_kib=WRITER_CACHE_KIB,
                uniqueid_chars=UNIQUEID_CHARS,
                queue_chars=QUEUE_CHARS,
            )
            self._span_writers[pbx_id] = writer
        return writer

    def close(self) -> None:
        """Release the synchronous engine and the checkpoint thread, if any."""
        if self._checkpointer is not None:
            self._checkpointer.close()
        for writer in self._span_writers.values():
            writer.close()
        self._span_writers.clear()
        if self._sync is not None:
            self._sync.dispose()
