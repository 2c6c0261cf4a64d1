"""The outage suite: the faults of a real call center's week, with the PBX busy throughout.

Each run: the simulator (an independent PBX over TCP, writing its queue_log live) runs a
lab day as fast as possible; the daemon's listener ingests it into a real database; in
the middle of the run a fault happens *while callers keep joining, being answered and
hanging up*; the run goes on to its end. Then:

- healing on (the daemon's queue_log healer): every call of the simulator's truth is
  stored exactly once, with the right outcome and a wait within 1 s (a call cut by a PBX
  crash: outcome ``cut``, its end unknown and marked);
- healing off: no stored value is wrong (what could not be known is marked, not
  guessed), and ``reconcile`` against queue_log lists exactly the calls that were missed;
- ``rebuild`` (+ healing again, as ``centralita rebuild`` does) on a copy of the
  database gives the very same records, field by field.

Times are the PBX's virtual clock ("60 s" of outage are 60 s of calls on the PBX);
nothing here depends on wall-clock speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.ingest import rebuild, replay_log
from centralita.ami_listener.schema import calls, queue_entries
from centralita.ami_listener.service import AmiSettings, ListenerService
from centralita.ami_listener.store import make_engine
from centralita.db import migrate
from centralita.healing import Healer, heal_after_rebuild, queue_service
from centralita.metrics.periods import Period
from centralita.metrics.queue_log_follow import follow_queue_log
from centralita.metrics.reconcile import reconcile
from centralita.simulator.config import (
    AgentConfig,
    Behaviour,
    PatienceClass,
    QueueConfig,
    ServiceConfig,
    SimConfig,
    lab_config,
    validate,
)
from centralita.simulator.runner import Simulator
from centralita.simulator.truth import Truth, TruthCall
from tests.conftest import PG_HOST, PG_PORT, PG_USER
from tests.integration.helpers import SECRET, relogged, settle, until

PBX = "sim"
CALLS = 260


# ---------------------------------------------------------------------------- the daemon
class Daemon:
    """The listener as ``centralita run`` builds it: the tracker replayed from the event
    log at start, then the AMI connection (login, resync) and the writer process."""

    def __init__(self, engine: AsyncEngine, port: int) -> None:
        self.engine = engine
        self.port = port
        self.service: ListenerService | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> ListenerService:
        since = int((time.time() - 3600) * 1000)
        _records, tracker = await replay_log(self.engine, PBX, since_ms=since)
        ami = AmiSettings(
            port=self.port,
            secret=SECRET,
            backoff_initial_s=0.05,
            backoff_max_s=0.2,
            ping_interval_s=30.0,
            ping_timeout_s=30.0,
        )
        service = ListenerService(ami, self.engine, tracker, flush_interval_s=0.05)
        self.service = service
        self._task = asyncio.create_task(service.run())
        await until(lambda: service.pipeline.stats.resyncs >= 1, what="login and resync")
        return service

    async def stop(self) -> None:
        """A clean stop (SIGTERM): what was received is stored before the exit."""
        if self.service is not None:
            await settle(self.service)
        await self._cancel()

    async def kill(self) -> None:
        """SIGKILL: the writer process dies at once with whatever it held; then the
        reader goes (nothing more is stored)."""
        assert self.service is not None and self.service.log_process is not None
        proc = self.service.log_process._process  # the child process handle
        proc.kill()
        proc.join(10)
        await self._cancel()

    async def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None


# ------------------------------------------------------------------------------ faults
async def outage(sim: Simulator, daemon: Daemon, fault: str) -> None:
    """Inject ``fault`` now; the PBX keeps working through it; the daemon is back after."""
    service = daemon.service
    assert service is not None
    kind, _, length = fault.partition("-")
    seconds = {"5s": 5.0, "60s": 60.0, "10min": 600.0}.get(length, 0.0)
    if kind == "stop":
        await daemon.stop()
        await sim.advance(seconds)
        await daemon.start()
    elif kind == "kill":
        await daemon.kill()
        await sim.advance(40.0)
        await daemon.start()
    elif kind == "cut":
        logins, resyncs = service.client.stats.logins, service.pipeline.stats.resyncs
        await sim.cut_network()
        await sim.advance(seconds)
        await sim.restore_network()
        await relogged(service, logins, resyncs)
    elif kind == "restart":
        logins, resyncs = service.client.stats.logins, service.pipeline.stats.resyncs
        await sim.restart_now(down_s=20.0)
        await relogged(service, logins, resyncs)
    elif kind == "crash":
        logins, resyncs = service.client.stats.logins, service.pipeline.stats.resyncs
        sim.crash(down_s=20.0)
        await relogged(service, logins, resyncs)
    else:
        raise AssertionError(fault)


def busy_mid_run(sim: Simulator) -> Callable[[], bool]:
    """Mid-run, with callers both waiting and talking."""
    engine = sim.engine

    def reached() -> bool:
        if engine.generated < CALLS // 3:
            return False
        return len({c.state for c in engine.active.values()}) >= 2

    return reached


# ------------------------------------------------------------------------------ checks
COLUMNS = [c.name for c in calls.columns]
ENTRY_COLUMNS = [c.name for c in queue_entries.columns]


async def stored(engine: AsyncEngine) -> tuple[dict[str, dict[str, Any]], list[tuple[Any, ...]]]:
    """Every call row (by Uniqueid) and every queue-entry row, all columns."""
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(calls).where(calls.c.pbx_id == PBX))).mappings()
        by_uid = {r["uniqueid"]: dict(r) for r in rows}
        entries = await conn.execute(
            sa.select(queue_entries)
            .where(queue_entries.c.pbx_id == PBX)
            .order_by(queue_entries.c.uniqueid, queue_entries.c.seq)
        )
        return by_uid, [tuple(r) for r in entries]


def marks_of(row: dict[str, Any]) -> set[str]:
    return {m for m in str(row["marks"]).split(",") if m}


def wrong_values(call: TruthCall, row: dict[str, Any], *, healed: bool) -> list[str]:
    """What is wrong in one stored record. A value may be unknown (None, and marked),
    never wrong; with healing on, only what the PBX itself could not know is unknown."""
    bad: list[str] = []
    marks = marks_of(row)
    outcome = row["outcome"]
    truth_outcome = "cut" if call.cut and call.answered_at is None else call.outcome or ""
    if outcome != truth_outcome and not (outcome == "unknown" and "outcome" in marks):
        bad.append(f"outcome {outcome} (truth {truth_outcome})")
    if healed and outcome == "unknown":
        bad.append("outcome left unknown although healing ran")
    wait = None if row["wait_ms"] is None else row["wait_ms"] / 1000
    if wait is None:
        if not marks and row["source"] == "ami":
            bad.append("wait missing and not marked")
        if healed and not call.cut:
            bad.append("wait unknown although healing ran")
    elif call.wait_s is None or abs(wait - call.wait_s) > 1.0:
        bad.append(f"wait {wait} (truth {call.wait_s})")
    if call.answered_at is not None and "outcome" not in marks:
        # queue_log names the member, not its interface: a healed answer carries the name.
        from_ql = row["source"] == "queue_log" or "healed" in marks
        agent_ok = row["agent_interface"] == call.agent_interface or (
            from_ql and not row["agent_interface"] and row["agent_name"] == call.agent_name
        )
        if not agent_ok:
            bad.append(
                f"agent {row['agent_interface']!r}/{row['agent_name']!r}"
                f" (truth {call.agent_interface!r})"
            )
    if call.cut and call.answered_at is None and "ended_at" not in marks:
        bad.append("cut call's end not marked unknown")
    return bad


def check_against_truth(
    truth: Truth, rows: dict[str, dict[str, Any]], *, healed: bool
) -> tuple[list[str], set[str]]:
    """(problems, truth calls with no record)."""
    problems: list[str] = []
    missing: set[str] = set()
    wanted = {c.uniqueid: c for c in truth.queue_calls()}
    for uid, call in wanted.items():
        row = rows.get(uid)
        if row is None:
            missing.add(uid)
            continue
        where = f"[{row['source']} {row['marks'] or '-'} {row['outcome']}]"
        problems.extend(f"{uid} {where}: {p}" for p in wrong_values(call, row, healed=healed))
    problems.extend(f"{uid}: stored but not in the truth" for uid in set(rows) - set(wanted))
    return problems, missing


def month_of(truth: Truth) -> Period:
    first = min(c.entered_at for c in truth.queue_calls() if c.entered_at is not None)
    local = datetime.fromtimestamp(first, ZoneInfo("America/La_Paz"))
    return Period.month(local.strftime("%Y-%m"))


# --------------------------------------------------------------------------- databases
@contextlib.asynccontextmanager
async def copy_of(url: str, engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A copy of the database (the live one stays as it is)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database is not None
        async with engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(FULL)")
        target = tmp_path / "copy.db"
        shutil.copyfile(parsed.database, target)
        copy = make_engine(f"sqlite+aiosqlite:///{target}")
        try:
            yield copy
        finally:
            await copy.dispose()
        return
    await engine.dispose()  # CREATE DATABASE ... TEMPLATE wants no other session on it
    name = f"copy_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER or None, database="test")
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{parsed.database}"')
    finally:
        await admin.close()
    copy = make_engine(parsed.set(database=name).render_as_string(hide_password=False))
    try:
        yield copy
    finally:
        await copy.dispose()
        admin = await asyncpg.connect(
            host=PG_HOST, port=PG_PORT, user=PG_USER or None, database="test"
        )
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def heal_now(engine: AsyncEngine, queue_log: Path, open_calls: set[str]) -> Healer:
    """One pass of the daemon's healer (as after a login or at its interval)."""
    healer = Healer(
        engine,
        PBX,
        str(queue_log),
        settle_s=0.0,
        service_for_queue=queue_service(_default_service),
        open_calls=lambda: open_calls,
    )
    assert await healer.cycle("test"), healer.stats.failing
    return healer


def _default_service(exten: str, queue: str) -> str:
    from centralita.ami_listener.tracker import default_service

    return default_service(exten, queue)


# ------------------------------------------------------------------------------ the run
FAULTS = [
    "stop-5s",
    "stop-60s",
    "stop-10min",
    "kill",
    "cut-5s",
    "cut-60s",
    "restart",
    "crash",
]


@pytest.mark.slow
@pytest.mark.parametrize("healing", [True, False], ids=["healing", "no-healing"])
@pytest.mark.parametrize("fault", FAULTS)
async def test_fault_with_the_pbx_busy_throughout(
    db_url: str, fault: str, healing: bool, tmp_path: Path
) -> None:
    await run_fault(db_url, fault, healing, tmp_path, "12")


@pytest.mark.slow
@pytest.mark.parametrize("healing", [True, False], ids=["healing", "no-healing"])
@pytest.mark.parametrize("fault", ["stop-60s", "cut-60s", "crash"])
async def test_fault_on_asterisk_11(db_url: str, fault: str, healing: bool, tmp_path: Path) -> None:
    """The Elastix generation: no Uptime in FullyBooted (a crash is not seen as one by
    the AMI side: the callers it took are ``unknown`` until queue_log says ``cut``)."""
    await run_fault(db_url, fault, healing, tmp_path, "11")


async def run_fault(db_url: str, fault: str, healing: bool, tmp_path: Path, dialect: str) -> None:
    """One run of the suite (see the module docstring)."""
    queue_log = tmp_path / "queue_log"
    engine = make_engine(db_url)
    await migrate(engine)
    try:
        async with Simulator(
            lab_config(calls=CALLS, load=1.5, dialect=dialect),  # type: ignore[arg-type]
            seed=sum(map(ord, fault)),
            speed=None,
            secret=SECRET,
            queue_log_path=queue_log,
        ) as sim:
            daemon = Daemon(engine, sim.port)
            await daemon.start()
            await sim.advance_until(busy_mid_run(sim))
            before = sim.engine.now
            await outage(sim, daemon, fault)
            after = sim.engine.now
            await sim.advance_until(lambda: False)  # the rest of the run
            assert daemon.service is not None
            await settle(daemon.service)
            open_calls = set(daemon.service.tracker.calls)
            if healing:
                await heal_now(engine, queue_log, open_calls)
            await daemon.stop()
            truth = sim.truth
        if fault.startswith(("stop", "kill", "cut")):  # the PBX was busy while we were away
            joined = [c for c in truth.queue_calls() if before < (c.entered_at or 0) < after]
            ended = [c for c in truth.queue_calls() if before < (c.ended_at or 0) < after]
            assert joined or ended, "nothing happened on the PBX during the outage"
            if after - before >= 60.0:
                assert joined and ended
        rows, _ = await stored(engine)
        problems, missing = check_against_truth(truth, rows, healed=healing)
        assert problems == []
        if healing:
            assert missing == set()
        else:
            # Only queue_log can tell of calls that began and ended while we were away:
            # reconcile (AMI records against the PBX's queue_log) lists exactly those.
            await follow_queue_log(engine, PBX, queue_log)
            result = await reconcile(engine, month_of(truth), pbx_id=PBX)
            only_in_ql = {d.uniqueid for d in result.differences if d.kind == "falta_en_ami"}
            assert only_in_ql == missing
        # What the daemon decided is replayable from its event log (and stored queue_log).
        async with copy_of(db_url, engine, tmp_path) as copy:
            await rebuild(copy, PBX)
            if healing:
                await heal_after_rebuild(copy, [PBX], _default_service)
            again, again_entries = await stored(copy)
        live, live_entries = await stored(engine)
        assert again == live
        assert again_entries == live_entries
    finally:
        await engine.dispose()


def one_agent_config(dialect: str) -> SimConfig:
    """One queue, one agent, patient callers, long conversations: the outage scenario."""
    return validate(
        SimConfig(
            queues=(QueueConfig(name="q101"),),
            agents=(AgentConfig(name="Ana", interface="Local/ana@lab-agents", queues=("q101",)),),
            services=(ServiceConfig(exten="101", queue="q101", calls_per_min=1.5),),
            behaviour=Behaviour(
                no_answer_prob=0.0,
                talk_min_s=40.0,
                talk_max_s=70.0,
                pause_mean_interval_s=1e9,
                named_caller_prob=0.0,
                patience=(PatienceClass(name="patient", weight=1.0, min_s=600.0, max_s=900.0),),
            ),
            dialect=dialect,  # type: ignore[arg-type]
            calls=12,
            noise=False,
        )
    )


@pytest.mark.parametrize("dialect", ["11", "12"])
async def test_three_callers_across_a_daemon_stop(
    db_url: str, dialect: str, tmp_path: Path
) -> None:
    """The issue's reproduction, end to end over TCP: one agent; caller A answered before
    the stop and ended during it; B joined and was answered during it; C joined during it
    and still waits at the new login. Without queue_log: A answered with its end and talk
    marked unknown, B built from its last events (answer and entry from HoldTime/TalkTime,
    marked), C entered when it really did (from the PBX clock, marked); with healing, A's
    talk and end come from queue_log. Nothing is entered before its caller existed."""
    queue_log = tmp_path / "queue_log"
    engine = make_engine(db_url)
    await migrate(engine)
    try:
        async with Simulator(
            one_agent_config(dialect), seed=5, speed=None, secret=SECRET, queue_log_path=queue_log
        ) as sim:
            daemon = Daemon(engine, sim.port)
            await daemon.start()

            def talking() -> list[str]:
                return [u for u, c in sim.engine.active.items() if c.state == "talking"]

            assert await sim.advance_until(lambda: bool(talking()))
            (a,) = talking()
            await daemon.stop()
            stopped = sim.engine.now

            def scenario() -> bool:
                truth = sim.truth.by_uniqueid()
                if a in sim.engine.active:
                    return False
                joined = [
                    u for u, c in sim.engine.active.items() if (truth[u].entered_at or 0) > stopped
                ]
                states = {sim.engine.active[u].state for u in joined}
                return {"talking", "waiting"} <= states

            assert await sim.advance_until(scenario)
            truth = sim.truth.by_uniqueid()
            b = next(u for u, c in sim.engine.active.items() if c.state == "talking")
            c = next(
                u
                for u, x in sim.engine.active.items()
                if x.state == "waiting" and (truth[u].entered_at or 0) > stopped
            )
            service = await daemon.start()
            assert c in service.tracker.calls  # known at once, from QueueStatus
            entered_c = service.tracker.calls[c].record.entered_at
            assert abs(entered_c - (truth[c].entered_at or 0)) <= 1.0
            await sim.advance_until(lambda: False)
            await settle(service)
            rows, _ = await stored(engine)
            truth = sim.truth.by_uniqueid()
            ra, rb, rc = rows[a], rows[b], rows[c]
            assert ra["outcome"] == "answered" and ra["talk_ms"] is None
            assert {"ended_at", "talk"} <= marks_of(ra)
            assert rb["outcome"] == "answered"
            assert "entered_at" in marks_of(rc) and rc["source"] == "ami"
            if dialect == "12":
                assert {"entered_at", "answered_at"} <= marks_of(rb)
            for uid in (a, b, c):
                assert wrong_values(truth[uid], rows[uid], healed=False) == []
                assert rows[uid]["entered_at_ms"] >= int((truth[uid].entered_at or 0) * 1000) - 1000
            await heal_now(engine, queue_log, set())
            healed, _ = await stored(engine)
            assert healed[a]["talk_ms"] is not None and "healed" in marks_of(healed[a])
            for uid in (a, b, c):
                assert wrong_values(truth[uid], healed[uid], healed=True) == []
            await daemon.stop()
    finally:
        await engine.dispose()
