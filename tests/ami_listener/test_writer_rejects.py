"""A writer that never wedges, on SQLite and PostgreSQL.

- Values are made storable before insert (NUL, long ids, names and numbers): the same
  row on both databases, the event's raw text whole.
- A batch the database still refuses is split to isolate the bad rows, which go to
  ``write_rejects`` with the error; the rest is written.
- An outage (server unreachable, SQLite locked by another writer) is retried, never
  dead-lettered.
- One bad row followed by 800 good calls through the real writer paths (the writer
  process, as the daemon runs by default, and the inline writer): all 800 stored, the
  writer healthy.
- The resend buffers are bounded and ``buffered`` counts rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.eventlog import event_row
from centralita.ami_listener.records import CallRecord, QueueEntryRecord
from centralita.ami_listener.schema import (
    ami_events,
    calls,
    ivr_calls,
    queue_entries,
    write_rejects,
)
from centralita.ami_listener.service import ListenerService
from centralita.ami_listener.storable import row_rejected
from centralita.ami_listener.store import (
    Batch,
    BatchWriter,
    create_schema,
    make_engine,
    write_batch,
)
from centralita.ami_listener.tracker import IvrHangup
from centralita.daemon import Daemon
from centralita.demo import free_port
from centralita.settings import parse_settings
from centralita.simulator.config import lab_config
from centralita.simulator.dialect import Headers
from centralita.simulator.model import Engine
from centralita.simulator.runner import Simulator
from tests.conftest import PG_HOST, PG_PORT
from tests.integration.helpers import (
    SECRET,
    WAIT,
    Row,
    drive,
    fetch_rows,
    listener_for,
    running,
    settle,
    truth_mismatches,
    until,
)

TS = 1_795_930_000.0


def frame(uniqueid: str, n: int, extra: str = "") -> bytes:
    return (
        f"Event: Newexten\nPrivilege: dialplan,all\nTimestamp: {TS + n / 1000:.6f}\n"
        f"Channel: SIP/100-{n:08x}\nUniqueid: {uniqueid}\nLinkedid: {uniqueid}\n"
        f"Application: Queue{extra}"
    ).encode()


def record(uniqueid: str, *, name: str = "Ana", num: str = "2611892", n: int = 0) -> CallRecord:
    entered = TS + n
    return CallRecord(
        pbx_id="lab",
        uniqueid=uniqueid,
        linkedid=uniqueid,
        service="101",
        exten="101",
        caller_num=num,
        caller_name=name,
        entered_at=entered,
        queues=["q101"],
        entries=[
            QueueEntryRecord(queue="q101", service="101", entered_at=entered, left_at=entered + 3)
        ],
        ended_at=entered + 3,
        outcome="abandoned",
    )


async def count(engine: AsyncEngine, table: sa.Table) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())


async def rejects(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(sa.select(write_rejects).order_by(write_rejects.c.id))
        return [dict(r) for r in rows.mappings()]


@contextlib.asynccontextmanager
async def schema(url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(url)
    await create_schema(engine)
    try:
        yield engine
    finally:
        await engine.dispose()


async def refuse(engine: AsyncEngine, marker: str) -> None:
    """Make the database refuse any event, call or IVR row holding ``marker``: a row
    that stays bad however it is cleaned (a CHECK constraint, a trigger on SQLite)."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            for table, column in (("ami_events", "raw"), ("calls", "caller_name")):
                await conn.exec_driver_sql(
                    f"ALTER TABLE {table} ADD CONSTRAINT no_marker_{table}"
                    f" CHECK (position('{marker}' in {column}) = 0)"
                )
            await conn.exec_driver_sql(
                f"ALTER TABLE ivr_calls ADD CONSTRAINT no_marker_ivr"
                f" CHECK (position('{marker}' in caller_num) = 0)"
            )
            return
        for table, column in (
            ("ami_events", "raw"),
            ("calls", "caller_name"),
            ("ivr_calls", "caller_num"),
        ):
            await conn.exec_driver_sql(
                f"CREATE TRIGGER no_marker_{table} BEFORE INSERT ON {table}"
                f" WHEN instr(NEW.{column}, '{marker}') > 0"
                f" BEGIN SELECT RAISE(ABORT, 'marker refused'); END"
            )


# ------------------------------------------------------------- storable values
async def test_values_are_made_storable_the_same_on_both_databases(db_url: str) -> None:
    """NUL, a 149-character uniqueid (Asterisk's limit), ids past the column, a caller
    name over 200 and a number over 64: stored, cut to the column, never refused."""
    uid149 = "1795930000." + "7" * 138
    too_long = "1795930001." + "8" * 200
    nul_frame = frame(uid149, 1, "\nAppData: a\x00b")
    batch = Batch(
        [event_row("lab", nul_frame, TS), event_row("lab", frame(too_long, 2), TS)],
        [
            record(uid149, name="N" * 300, num="5" * 100),
            record("1795930002.1", name="Ana\x00Pérez\udc80", n=1),
        ],
        [IvrHangup("lab", "1795930003.1", "101", TS, "\x00" + "6" * 80)],
    )
    async with schema(db_url) as engine:
        assert await write_batch(engine, batch) == []
        async with engine.connect() as conn:
            logged = (
                await conn.execute(
                    sa.select(ami_events.c.uniqueid, ami_events.c.raw).order_by(ami_events.c.id)
                )
            ).all()
            stored = (
                await conn.execute(
                    sa.select(calls.c.uniqueid, calls.c.caller_name, calls.c.caller_num).order_by(
                        calls.c.entered_at_ms
                    )
                )
            ).all()
            entry_ids = (await conn.execute(sa.select(queue_entries.c.uniqueid))).scalars().all()
            ivr = (await conn.execute(sa.select(ivr_calls.c.caller_num))).scalar_one()
        assert await rejects(engine) == []
    assert logged[0] == (uid149, nul_frame.decode().replace("\x00", "\ufffd"))
    assert logged[1][0] == too_long[:150]
    assert logged[1][1] == frame(too_long, 2).decode()  # the raw text whole
    assert stored == [
        (uid149, "N" * 200, "5" * 64),
        ("1795930002.1", "Ana\ufffdPérez\ufffd", "2611892"),
    ]
    assert sorted(entry_ids) == sorted([uid149, "1795930002.1"])
    assert ivr == "\ufffd" + "6" * 63


# ------------------------------------------------------------- isolation
async def test_a_refused_row_is_set_aside_and_the_rest_written(db_url: str) -> None:
    frames = [frame(f"1795930000.{i}", i) for i in range(1000)]
    frames[17] = frame("1795930000.17", 17, "\nAppData: REFUSE-ME")
    frames[640] = frame("1795930000.640", 640, "\nAppData: REFUSE-ME")
    records = [record(f"1795930100.{i}", n=i) for i in range(50)]
    records[3] = record("1795930100.3", name="REFUSE-ME", n=3)
    hangups = [
        IvrHangup("lab", "1795930200.1", "101", TS, "2611892"),
        IvrHangup("lab", "1795930200.2", "101", TS, "REFUSE-ME"),
    ]
    batch = Batch([event_row("lab", f, TS) for f in frames], records, hangups)
    async with schema(db_url) as engine:
        await refuse(engine, "REFUSE-ME")
        writer = BatchWriter(engine)
        try:
            got = await writer.write(batch)
        finally:
            writer.close()
        assert sorted(r.kind for r in got) == ["call", "event", "event", "ivr"]
        assert await count(engine, ami_events) == 998
        assert await count(engine, calls) == 49
        assert await count(engine, queue_entries) == 49
        assert await count(engine, ivr_calls) == 1
        stored = await rejects(engine)
    assert [r["kind"] for r in stored] == ["event", "event", "call", "ivr"]  # batch order
    assert all(r["pbx_id"] == "lab" and r["at_ms"] > 0 for r in stored)
    assert all("marker" in r["error"] or "no_marker" in r["error"] for r in stored)
    first = json.loads(stored[0]["payload"])
    assert first["raw"] == frames[17].decode() and first["uniqueid"] == "1795930000.17"
    assert json.loads(stored[2]["payload"])["caller_name"] == "REFUSE-ME"
    assert json.loads(stored[3]["payload"])["uniqueid"] == "1795930200.2"


async def test_the_c_log_writer_path_isolates_too(sqlite_url: str) -> None:
    """The writer process on a SQLite file stores spans through the C log writer: a span
    it cannot store falls back to rows and is isolated the same way."""
    frames = [frame(f"1795930000.{i}", i) for i in range(300)]
    frames[150] = frame("1795930000.150", 150, "\nAppData: REFUSE-ME")
    async with schema(sqlite_url) as engine:
        await refuse(engine, "REFUSE-ME")
        writer = BatchWriter(engine)
        try:
            got = await writer.write(
                Batch([], spans=[(b"\n\n".join(frames), 1_795_930_000_000)], pbx_id="lab")
            )
        finally:
            writer.close()
        assert [r.kind for r in got] == ["event"]
        assert await count(engine, ami_events) == 299
        assert len(await rejects(engine)) == 1


# ------------------------------------------------------------- error classes
async def test_outage_errors_are_told_from_refused_rows(db_url: str, tmp_path: Path) -> None:
    async with schema(db_url) as engine:
        await refuse(engine, "REFUSE-ME")
        with pytest.raises(sa.exc.SQLAlchemyError) as refused:
            async with engine.begin() as conn:
                await conn.run_sync(
                    lambda c: c.execute(
                        sa.insert(ivr_calls),
                        {
                            "pbx_id": "lab",
                            "uniqueid": "1",
                            "service": "101",
                            "started_at_ms": 1,
                            "caller_num": "REFUSE-ME",
                            "hung_up_before_queue": True,
                        },
                    )
                )
        assert row_rejected(refused.value)
        with pytest.raises(sa.exc.SQLAlchemyError) as missing:  # not migrated: not the rows
            async with engine.begin() as conn:
                await conn.exec_driver_sql("INSERT INTO no_such_table VALUES (1)")
        assert not row_rejected(missing.value)
    # Unreachable server, locked file.
    down = make_engine(f"postgresql+asyncpg://{PG_HOST}:1/test")
    with pytest.raises(OSError) as unreachable:
        async with down.connect():
            pass
    await down.dispose()
    assert not row_rejected(unreachable.value)
    path = tmp_path / "locked.db"
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("CREATE TABLE t (a)")
    blocker.execute("BEGIN IMMEDIATE")
    other = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.05})
    with pytest.raises(sa.exc.OperationalError) as locked, other.begin() as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    other.dispose()
    blocker.close()
    assert not row_rejected(locked.value)


# ------------------------------------------------------------- through the listener
GOOD_CALLS = 800
BAD_KINDS = ("nul", "long_uniqueid", "long_caller_name", "long_caller_num")


def bad_call(kind: str, days_before: int = 1) -> tuple[str, list[Headers]]:
    """One complete call ``days_before`` the simulated run, made bad: its uniqueid as the
    record will have it, and its events."""
    base = lab_config(calls=1, noise=False)
    start = base.start_epoch - 86_400 * days_before
    pbx = Engine(msgspec.structs.replace(base, start_epoch=start), seed=5)
    events: list[Headers] = []
    while not pbx.done and (nxt := pbx.next_time()) is not None:
        pbx.advance(nxt)
        events += pbx.drain()
    uid = pbx.truth.queue_calls()[0].uniqueid
    long_uid = f"{uid}-" + "x" * (148 - len(uid))  # 149 characters: Asterisk's limit
    out: list[Headers] = []
    for headers in events:
        if ("Uniqueid", uid) not in headers:
            continue  # the agents' side of the run: not needed for the record
        fixed: Headers = []
        for key, value in headers:
            new = value
            if kind == "nul" and key == "CallerIDName":
                new = "Ana\x00Pérez"
            elif kind == "long_uniqueid" and value == uid:
                new = long_uid
            elif kind in ("long_caller_name", "refused") and key == "CallerIDName":
                new = "N" * 300 if kind == "long_caller_name" else "REFUSE-ME"
            elif kind == "long_caller_num" and key == "CallerIDNum":
                new = "5" * 100
            fixed.append((key, new))
        out.append(fixed)
    assert len(out) >= 4
    return (long_uid if kind == "long_uniqueid" else uid), out


async def one_bad_then_good_calls(
    url: str, kind: str, log_writer: str
) -> tuple[AsyncEngine, ListenerService, list[Row], str]:
    """Run a listener (``log_writer``), send the bad call, then 800 good calls; return
    the stored calls and the bad call's uniqueid (the engine stays open: the caller
    disposes of it)."""
    engine = make_engine(url)
    await create_schema(engine)
    if kind == "refused":
        await refuse(engine, "REFUSE-ME")
    bad_uid, bad_events = bad_call(kind)
    async with (
        Simulator(lab_config(calls=GOOD_CALLS), seed=21, speed=None, secret=SECRET) as sim,
        running(listener_for(sim.port, engine, log_writer=log_writer)) as service,
    ):
        sim.server.broadcast(bad_events)
        await drive(sim)
        await settle(service)
        rows = await fetch_rows(engine)
        good = [r for r in rows if r.uniqueid != bad_uid]
        assert truth_mismatches(sim.truth, good) == []
        assert len(good) == GOOD_CALLS
        assert not service.db_failing
        assert service.buffered == 0
    return engine, service, rows, bad_uid


@pytest.mark.parametrize("log_writer", ["process", "inline"])
@pytest.mark.parametrize("kind", BAD_KINDS)
async def test_a_bad_row_then_800_good_calls(db_url: str, kind: str, log_writer: str) -> None:
    engine, service, rows, bad_uid = await one_bad_then_good_calls(db_url, kind, log_writer)
    try:
        async with engine.connect() as conn:
            call = (
                await conn.execute(
                    sa.select(calls.c.caller_name, calls.c.caller_num).where(
                        calls.c.uniqueid == bad_uid
                    )
                )
            ).one()
            logged = (
                (
                    await conn.execute(
                        sa.select(ami_events.c.raw).where(ami_events.c.uniqueid == bad_uid)
                    )
                )
                .scalars()
                .all()
            )
        stored_rejects = await rejects(engine)
    finally:
        await engine.dispose()
    # The bad call is stored too: made storable, nothing set aside.
    assert stored_rejects == [] and service.writer_stats.rows_rejected == 0
    assert len(logged) >= 4
    name, num = call
    if kind == "nul":
        assert name == "Ana\ufffdPérez"
        assert all("Ana\ufffdPérez" in raw for raw in logged)
    elif kind == "long_caller_name":
        assert name == "N" * 200 and all("N" * 300 in raw for raw in logged)
    elif kind == "long_caller_num":
        assert num == "5" * 64 and all("5" * 100 in raw for raw in logged)
    else:
        assert len(bad_uid) == 149 and sum(r.uniqueid == bad_uid for r in rows) == 1


@pytest.mark.parametrize("log_writer", ["process", "inline"])
async def test_a_refused_call_is_dead_lettered_and_800_good_calls_stored(
    db_url: str, log_writer: str
) -> None:
    """A row the database refuses however it is cleaned (here a constraint refuses a
    caller name): its events and its record go to write_rejects, the rest is stored,
    the writer stays healthy."""
    engine, service, rows, bad_uid = await one_bad_then_good_calls(db_url, "refused", log_writer)
    try:
        stored_rejects = await rejects(engine)
    finally:
        await engine.dispose()
    assert all(r.uniqueid != bad_uid for r in rows)
    kinds = [r["kind"] for r in stored_rejects]
    assert "call" in kinds and kinds.count("event") >= 3
    assert service.writer_stats.rows_rejected == len(stored_rejects)
    call = json.loads(next(r["payload"] for r in stored_rejects if r["kind"] == "call"))
    assert call["uniqueid"] == bad_uid and call["caller_name"] == "REFUSE-ME"


# ------------------------------------------------------------- outages and bounds
def db_failing(service: ListenerService) -> bool:
    """What /health reports as the database's state (a call: not narrowed by mypy)."""
    return service.db_failing


class PgRelay:
    """A TCP relay to PostgreSQL that can be cut (open connections reset, the port
    refusing) and restored on the same port: the server unreachable, as a network or a
    host failure looks from the daemon."""

    def __init__(self) -> None:
        self.port = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._open:
            writer.transport.abort()
        self._open.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(PG_HOST, PG_PORT)
        except OSError:
            writer.transport.abort()
            return
        self._open |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@contextlib.asynccontextmanager
async def outage_for(url: str) -> AsyncIterator[tuple[str, Callable[[], Any]]]:
    """The URL the listener must use, and a context manager that makes its database
    unreachable (PostgreSQL: through :class:`PgRelay`) or locked by another writer
    (SQLite: ``BEGIN EXCLUSIVE`` held by another connection) for its duration."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        relay = PgRelay()
        await relay.start()

        @contextlib.asynccontextmanager
        async def pg_down() -> AsyncIterator[None]:
            await relay.cut()
            try:
                yield
            finally:
                await relay.start()

        yield parsed.set(host="127.0.0.1", port=relay.port).render_as_string(False), pg_down
        await relay.cut()
        return

    @contextlib.asynccontextmanager
    async def sqlite_locked() -> AsyncIterator[None]:
        locker = sqlite3.connect(str(parsed.database), isolation_level=None)
        try:
            locker.execute("BEGIN EXCLUSIVE")
            yield
            locker.execute("ROLLBACK")
        finally:
            locker.close()

    yield url, sqlite_locked


@pytest.mark.parametrize("log_writer", ["process", "inline"])
async def test_an_outage_is_retried_and_nothing_dead_lettered(db_url: str, log_writer: str) -> None:
    async with schema(db_url) as checker, outage_for(db_url) as (url, down):
        engine = make_engine(url)
        try:
            async with (
                Simulator(lab_config(calls=150), seed=23, speed=None, secret=SECRET) as sim,
                running(
                    listener_for(sim.port, engine, log_writer=log_writer, retry_max_s=0.5)
                ) as service,
            ):
                await drive(sim, stop=lambda: sim.engine.generated >= 50)
                await settle(service)
                async with down():
                    await drive(sim, stop=lambda: sim.engine.generated >= 100)
                    await until(lambda: service.db_failing, what="the outage noticed")
                    assert service.buffered > 0
                await drive(sim)
                await settle(service)
                assert not service.db_failing
                stats = service.writer_stats
                assert stats.failures >= 1
                assert (stats.rows_rejected, stats.events_dropped) == (0, 0)
                assert truth_mismatches(sim.truth, await fetch_rows(checker)) == []
        finally:
            await engine.dispose()
        assert await rejects(checker) == []


@pytest.mark.parametrize("log_writer", ["process", "inline"])
async def test_buffers_are_bounded_in_rows_and_calls_never_dropped(
    db_url: str, log_writer: str
) -> None:
    """A database outage longer than the buffer: the oldest log rows are dropped and
    counted, ``buffered`` counts rows (not messages) and stays near the bound plus the
    finished calls, and every call is stored exactly once the database is back."""
    limit = 1000
    async with schema(db_url) as checker, outage_for(db_url) as (url, down):
        engine = make_engine(url)
        try:
            async with (
                Simulator(lab_config(calls=120), seed=24, speed=None, secret=SECRET) as sim,
                running(
                    listener_for(
                        sim.port,
                        engine,
                        log_writer=log_writer,
                        retry_max_s=0.5,
                        max_buffered_events=limit,
                    )
                ) as service,
            ):
                await drive(sim, stop=lambda: sim.engine.generated >= 10)
                await settle(service)
                logged_before = await count(checker, ami_events)
                events_before = service.pipeline.stats.events
                async with down():
                    await drive(sim)
                    # Every event sent is read once the Ping is answered, and processed
                    # once nothing waits for the consumer.
                    await service.client.send({"Action": "Ping"}, timeout_s=WAIT)
                    await until(lambda: service.lag == 0, what="the consumer to keep up")
                    await until(lambda: service.writer_stats.failures > 0, what="a failed write")
                    assert db_failing(service)
                    received = service.pipeline.stats.events - events_before
                    assert received > 3 * limit
                    buffered = service.buffered
                    process = service.log_process
                    if process is not None:
                        calls_held = process.pending_rows - process.pending_events
                        assert process.pending_events <= limit
                        assert buffered == process.pending_rows > process.pending
                        await until(
                            lambda: service.writer_stats.events_dropped > 0,
                            what="the writer process to drop rows",
                        )
                    else:
                        held = service.pipeline.buffer
                        calls_held = len(held.calls)
                        assert len(held.events) <= limit
                        assert buffered == len(held.events) + calls_held
                    assert 0 < calls_held <= buffered <= limit + calls_held
                await settle(service)
                stats = service.writer_stats
                assert stats.events_dropped >= received - limit
                if process is not None:
                    assert stats.resend_dropped >= received - limit
                logged = await count(checker, ami_events) - logged_before
                assert logged == received - stats.events_dropped
                assert service.buffered == 0 and not db_failing(service)
                assert truth_mismatches(sim.truth, await fetch_rows(checker)) == []
        finally:
            await engine.dispose()


async def test_daemon_on_postgresql_bad_rows_then_800_calls_health_green(
    postgres_url: str, tmp_path: Path
) -> None:
    """The daemon as `centralita run` starts it (migrations, the writer process, /health):
    one call of each bad kind, then 800 good calls; all stored, nothing set aside."""
    secret_file = tmp_path / "ami.secret"
    secret_file.write_text(SECRET)
    bad = [bad_call(kind, days_before=n) for n, kind in enumerate(BAD_KINDS, start=1)]
    async with Simulator(lab_config(calls=GOOD_CALLS), seed=22, speed=None, secret=SECRET) as sim:
        http_port = free_port()
        settings = parse_settings(
            'pbx_id = "sim"\n'
            f'[ami]\nport = {sim.port}\nsecret_file = "{secret_file}"\n'
            f'[database]\nurl = "{postgres_url}"\n'
            "[ivr]\nenabled = false\n"
            f"[http]\nport = {http_port}\n",
            "centralita.toml",
            env={},
        )
        daemon = Daemon(settings)
        parts = await daemon.build()
        runner = asyncio.create_task(daemon.run())
        try:
            service = parts.listener
            await until(lambda: service.pipeline.stats.resyncs >= 1, what="login")
            for _uid, events in bad:
                sim.server.broadcast(events)
            await drive(sim)
            await settle(service)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}") as http:
                health = await http.get("/health")
                metrics = (await http.get("/metrics")).text
        finally:
            daemon.stop()
            assert await asyncio.wait_for(runner, 60) == 0
        truth = sim.truth
    assert health.status_code == 200
    assert health.json()["database_ok"] is True and health.json()["buffered_rows"] == 0
    assert 'centralita_store_rows_rejected_total{pbx="sim"} 0' in metrics
    engine = make_engine(postgres_url)
    try:
        rows = await fetch_rows(engine)
        assert await rejects(engine) == []
    finally:
        await engine.dispose()
    bad_uids = {uid for uid, _events in bad}
    assert truth_mismatches(truth, [r for r in rows if r.uniqueid not in bad_uids]) == []
    assert len(rows) == GOOD_CALLS + len(bad_uids)
