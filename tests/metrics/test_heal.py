"""Healing the call records from queue_log: missing calls inserted once, marked values
corrected, unmarked records untouched, idempotent, and rebuild + heal = live; on SQLite
and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.ingest import ingest_capture, rebuild
from centralita.ami_listener.records import CallRecord, QueueEntryRecord
from centralita.ami_listener.schema import calls, queue_entries
from centralita.ami_listener.store import upsert_calls
from centralita.metrics.heal import count_provenance, heal, provenance_of
from centralita.metrics.periods import Period
from centralita.metrics.queue_log_follow import follow_queue_log
from tests.metrics.conftest import FIXTURES
from tests.metrics.qlfiles import abandon, answered_call, append, connect, enter

PBX = "pbx1"
T0 = 1_795_925_650  # 2026-11-29
LATER_MS = (T0 + 3600) * 1000


def ami_answered(
    uid: str,
    entered: float,
    answered: float,
    ended: float,
    *,
    hold: int,
    marks: tuple[str, ...] = (),
) -> CallRecord:
    """An answered call as the AMI tracker records it (millisecond times)."""
    entry = QueueEntryRecord(
        queue="q101",
        service="101",
        entered_at=entered,
        left_at=answered,
        answered_at=answered,
        outcome="answered",
        hold_time_s=hold,
        agent_interface="Local/agent1@lab-agents",
        agent_name="Agent 1",
    )
    return CallRecord(
        pbx_id=PBX,
        uniqueid=uid,
        linkedid=uid,
        service="101",
        exten="101",
        caller_num="4999635",
        caller_name="",
        entered_at=entered,
        queues=["q101"],
        entries=[entry],
        answered_at=answered,
        ended_at=ended,
        outcome="answered",
        holdtime_s=hold,
        talk_s=round(ended - answered, 3),
        asterisk_talk_s=int(ended - answered),
        agent_interface="Local/agent1@lab-agents",
        agent_name="Agent 1",
        resynced=bool(marks),
        marks=list(marks),
    )


async def store(engine: AsyncEngine, *records: CallRecord) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(upsert_calls, records)


async def snapshot(engine: AsyncEngine) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    async with engine.connect() as conn:
        rows = await conn.execute(sa.select(calls).order_by(calls.c.pbx_id, calls.c.uniqueid))
        entries = await conn.execute(
            sa.select(queue_entries).order_by(
                queue_entries.c.pbx_id, queue_entries.c.uniqueid, queue_entries.c.seq
            )
        )
        return [dict(r._mapping) for r in rows], [dict(r._mapping) for r in entries]


def by_uid(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(r["uniqueid"]): r for r in rows}


async def load_ql(engine: AsyncEngine, tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / "queue_log"
    append(path, lines)
    await follow_queue_log(engine, PBX, path)


async def test_missing_call_is_inserted_once(any_engine: AsyncEngine, tmp_path: Path):
    await store(any_engine, ami_answered("1.1", T0 + 0.4, T0 + 6.2, T0 + 36.5, hold=6))
    await load_ql(
        any_engine,
        tmp_path,
        [
            *answered_call(T0, "1.1", 6, 30),
            enter(T0 + 2, "1.2", queue="q104", num="4076779", pos=2),
            abandon(T0 + 9, "1.2", 7, queue="q104"),
            *answered_call(T0 + 20, "1.3", 25, 40),
        ],
    )
    before = by_uid((await snapshot(any_engine))[0])
    result = await heal(any_engine, PBX, now_ms=LATER_MS)
    assert (result.inserted, result.corrected) == (2, 0)
    rows, entries = await snapshot(any_engine)
    got = by_uid(rows)
    assert got["1.1"] == before["1.1"]  # the measured AMI record wins, untouched
    abandoned = got["1.2"]
    assert abandoned["source"] == "queue_log" and abandoned["marks"] == ""
    assert (abandoned["service"], abandoned["queue"], abandoned["outcome"]) == (
        "104",
        "q104",
        "abandoned",
    )
    assert abandoned["entered_at_ms"] == (T0 + 2) * 1000
    assert (abandoned["wait_asterisk_s"], abandoned["wait_ms"]) == (7, 7000)
    assert (abandoned["join_position"], abandoned["abandon_position"]) == (2, 1)
    assert abandoned["caller_num"] == "4076779" and abandoned["answered_at_ms"] is None
    answered = got["1.3"]
    assert answered["outcome"] == "answered" and answered["agent_name"] == "Agent 1"
    assert answered["answered_at_ms"] == (T0 + 45) * 1000
    assert (answered["wait_asterisk_s"], answered["holdtime_s"]) == (25, 25)
    assert (answered["talk_ms"], answered["asterisk_talk_s"]) == (40_000, 40)
    assert answered["ended_at_ms"] == (T0 + 85) * 1000
    stays = [(e["uniqueid"], e["queue"], e["outcome"], e["wait_asterisk_s"]) for e in entries]
    assert ("1.2", "q104", "abandoned", 7) in stays and ("1.3", "q101", "answered", 25) in stays
    second = await heal(any_engine, PBX, now_ms=LATER_MS + 60_000)
    assert (second.inserted, second.corrected) == (0, 0)
    assert await snapshot(any_engine) == (rows, entries)


async def test_marked_values_are_corrected(any_engine: AsyncEngine, tmp_path: Path):
    # Joined during an outage: the entry was estimated 38 s too early (the caller C).
    late = ami_answered("2.1", T0 - 38.0, T0 + 12.3, T0 + 50.8, hold=12, marks=("entered_at",))
    # Left the queue unseen during the outage: outcome and end unknown.
    gone = ami_answered("2.2", T0 + 1.2, T0 + 5.0, T0 + 5.0, hold=4)
    gone.answered_at = None
    gone.entries[0].answered_at = None
    gone.entries[0].outcome = "unknown"
    gone.outcome = "unknown"
    gone.ended_at = None
    gone.talk_s = gone.asterisk_talk_s = gone.holdtime_s = None
    gone.marks = ["left_at", "outcome", "ended_at"]
    await store(any_engine, late, gone)
    await load_ql(
        any_engine,
        tmp_path,
        [*answered_call(T0, "2.1", 12, 38), enter(T0 + 1, "2.2"), abandon(T0 + 15, "2.2", 14)],
    )
    result = await heal(any_engine, PBX, now_ms=LATER_MS)
    assert (result.inserted, result.corrected) == (0, 2)
    rows, entries = await snapshot(any_engine)
    got = by_uid(rows)
    c = got["2.1"]
    assert c["entered_at_ms"] == T0 * 1000
    assert c["answered_at_ms"] == (T0 + 12) * 1000 + 300  # observed: kept
    assert (c["wait_ms"], c["wait_asterisk_s"]) == (12_300, 12)
    assert (c["source"], c["marks"]) == ("ami", "healed")
    assert c["talk_ms"] == 38_500  # not marked: kept
    first_stay = next(e for e in entries if e["uniqueid"] == "2.1")
    assert (first_stay["entered_at_ms"], first_stay["wait_ms"]) == (T0 * 1000, 12_300)
    g = got["2.2"]
    assert (g["outcome"], g["ended_at_ms"], g["marks"]) == ("abandoned", (T0 + 15) * 1000, "healed")
    assert (g["wait_ms"], g["wait_asterisk_s"]) == (13_800, 14)
    stay = next(e for e in entries if e["uniqueid"] == "2.2")
    assert (stay["outcome"], stay["left_at_ms"]) == ("abandoned", (T0 + 15) * 1000)
    again = await heal(any_engine, PBX, now_ms=LATER_MS)
    assert (again.inserted, again.corrected) == (0, 0)
    assert await snapshot(any_engine) == (rows, entries)


async def test_unmarked_ami_record_is_never_changed(any_engine: AsyncEngine, tmp_path: Path):
    """Even where queue_log disagrees, a measured record stays as measured (reconcile
    shows the difference; healing does not decide it)."""
    await store(any_engine, ami_answered("3.1", T0 + 0.5, T0 + 9.5, T0 + 20.0, hold=9))
    before = await snapshot(any_engine)
    await load_ql(any_engine, tmp_path, answered_call(T0, "3.1", 30, 10))
    result = await heal(any_engine, PBX, now_ms=LATER_MS)
    assert (result.inserted, result.corrected) == (0, 0)
    assert await snapshot(any_engine) == before


async def test_open_unsettled_and_unfinished_calls_wait(any_engine: AsyncEngine, tmp_path: Path):
    await load_ql(
        any_engine,
        tmp_path,
        [
            enter(T0, "4.1"),
            connect(T0 + 3, "4.1", 3),  # answered, still talking
            *answered_call(T0 + 10, "4.2", 2, 5),  # ended at T0 + 17
            *answered_call(T0 + 20, "4.3", 2, 5),  # the tracker still has it open
        ],
    )
    now = (T0 + 17 + 60) * 1000
    result = await heal(any_engine, PBX, now_ms=now, settle_s=120, open_uniqueids={"4.3"})
    assert result.inserted == 0 and result.waiting == 3
    result = await heal(any_engine, PBX, now_ms=now + 120_000, open_uniqueids={"4.3"})
    assert result.inserted == 1
    result = await heal(any_engine, PBX, now_ms=now + 120_000)
    assert result.inserted == 1
    assert set(by_uid((await snapshot(any_engine))[0])) == {"4.2", "4.3"}


async def test_since_limits_the_pass(any_engine: AsyncEngine, tmp_path: Path):
    await load_ql(
        any_engine,
        tmp_path,
        [*answered_call(T0, "5.1", 2, 5), *answered_call(T0 + 600, "5.2", 2, 5)],
    )
    result = await heal(any_engine, PBX, now_ms=LATER_MS, since_ms=(T0 + 300) * 1000)
    assert result.inserted == 1
    assert set(by_uid((await snapshot(any_engine))[0])) == {"5.2"}


def _without_callers(data: bytes, uniqueids: set[str]) -> bytes:
    """The capture without any frame naming these callers (calls the daemon never saw)."""
    frames = data.split(b"\r\n\r\n")
    keep = [f for f in frames if not any(uid.encode() in f for uid in uniqueids)]
    return b"\r\n\r\n".join(keep)


async def test_rebuild_then_heal_equals_live(any_engine: AsyncEngine):
    name = "GIT-master-f0c1c1a7b7"
    ql_text = (FIXTURES / f"{name}-queue_log").read_text()
    entered = [ln.split("|")[1] for ln in ql_text.splitlines() if "|ENTERQUEUE|" in ln]
    unseen = set(entered[5:12])
    data = _without_callers((FIXTURES / f"{name}-scenario.ami").read_bytes(), unseen)
    await ingest_capture(data, any_engine, PBX)
    await follow_queue_log(any_engine, PBX, FIXTURES / f"{name}-queue_log")
    ami_only = by_uid((await snapshot(any_engine))[0])
    assert not unseen & set(ami_only)
    live = await heal(any_engine, PBX, now_ms=LATER_MS * 10)
    assert live.inserted == len(unseen)
    healed = await snapshot(any_engine)
    got = by_uid(healed[0])
    assert {uid for uid, row in got.items() if row["source"] == "queue_log"} == unseen
    assert len(got) == len(set(entered))  # every caller of the queue_log exactly once
    await rebuild(any_engine, PBX)
    assert set(by_uid((await snapshot(any_engine))[0])) == set(ami_only)
    await heal(any_engine, PBX, now_ms=LATER_MS * 10)
    assert await snapshot(any_engine) == healed


async def test_provenance_counts(any_engine: AsyncEngine, tmp_path: Path):
    assert provenance_of("ami", "") == "measured"
    assert provenance_of("ami", "entered_at") == "estimated"
    assert provenance_of("ami", "healed") == "healed"
    assert provenance_of("ami", "gap_reason,healed") == "estimated"
    assert provenance_of("queue_log", "") == "queue_log"
    await store(
        any_engine,
        ami_answered("6.1", T0 + 0.4, T0 + 6.2, T0 + 36.5, hold=6),
        ami_answered("6.2", T0 - 30.0, T0 + 8.0, T0 + 20.0, hold=8, marks=("entered_at",)),
        ami_answered("6.3", T0 - 30.0, T0 + 8.0, T0 + 20.0, hold=8, marks=("entered_at",)),
    )
    await load_ql(
        any_engine,
        tmp_path,
        [*answered_call(T0, "6.2", 8, 12), enter(T0 + 4, "6.4"), abandon(T0 + 6, "6.4", 2)],
    )
    await heal(any_engine, PBX, now_ms=LATER_MS)
    counts = await count_provenance(any_engine, Period.month("2026-11"), PBX)
    assert (counts.measured, counts.estimated, counts.healed, counts.queue_log) == (1, 1, 1, 1)
    assert counts.total == 4


async def test_many_calls_are_healed_in_slices(
    any_engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr("centralita.metrics.heal._CHUNK", 2)
    marked = ami_answered("8.0", T0 - 30.0, T0 + 4.5, T0 + 9.0, hold=4, marks=("entered_at",))
    await store(any_engine, marked)
    lines = answered_call(T0, "8.0", 4, 5)
    for n in range(1, 6):
        lines += answered_call(T0 + 10 * n, f"8.{n}", 2, 3)
    await load_ql(any_engine, tmp_path, lines)
    result = await heal(any_engine, PBX, now_ms=LATER_MS)
    assert (result.examined, result.inserted, result.corrected) == (6, 5, 1)
    rows = by_uid((await snapshot(any_engine))[0])
    assert rows["8.0"]["entered_at_ms"] == T0 * 1000 and rows["8.0"]["marks"] == "healed"
