"""Healing: the call records completed and corrected from Asterisk's own queue_log.

The AMI path cannot see a call that starts and ends while the daemon is away, and after an
outage some values of a record are estimated (named in ``calls.marks``). The queue_log
(followed into ``ql_lines`` / ``ql_calls``, see ``metrics.queue_log_follow``) is the PBX's
durable record of the same calls, keyed by the same Uniqueid (its callid). Healing merges
it into ``calls``:

(a) a call over in queue_log (every stay closed: left unanswered, or answered and
    completed/transferred) and absent from ``calls`` is inserted with
    ``source = "queue_log"``, its queue stays into ``queue_entries``; times are
    queue_log's whole-second epochs, waits queue_log's own figures (CONNECT holdtime, the
    exit's wait), the service comes from the queue (``service_for_queue``);
(b) a record with estimation marks (``entered_at``, ``answered_at``, ``left_at``,
    ``ended_at``, ``talk``, ``outcome``) gets those values from queue_log, the waits that
    depend on them recomputed, those marks removed and ``healed`` added (the record keeps
    ``source = "ami"``); any other value, and any unmarked record, is never changed;
(c) the key is (pbx_id, Uniqueid): a call is never counted twice. A queue_log call that
    ended less than ``settle_s`` ago, or that the live tracker still has open, is left
    for a later pass.

The merge is a pure function (:func:`plan_healing`) of the AMI rows and the queue_log
calls: healing twice changes nothing the second time, and healing after ``rebuild``
gives the rows the live daemon has. A live AMI record written later for the same call
replaces a queue_log one (the writer's upsert); the next pass heals it if it is marked.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from centralita.ami_listener.records import CallRecord, QueueEntryRecord
from centralita.ami_listener.schema import calls, queue_entries
from centralita.ami_listener.store import call_rows
from centralita.metrics.periods import Period
from centralita.metrics.queue_log import QlCall
from centralita.metrics.queue_log_import import _insert, _refold_stored
from centralita.metrics.schema import ql_calls, ql_lines
from centralita.metrics.service_level import service_of_queue

HEALABLE: Final = ("entered_at", "answered_at", "left_at", "ended_at", "talk", "outcome")
"""Marks that queue_log can replace with the PBX's own values."""
HEALED: Final = "healed"
SOURCE_QUEUE_LOG: Final = "queue_log"
DEFAULT_SETTLE_S: Final = 120.0
_CHUNK = 500

Row = dict[str, Any]


@dataclass(frozen=True)
class AmiCall:
    """A stored call record: its ``calls`` row and its ``queue_entries`` rows (by seq)."""

    row: Row
    entries: tuple[Row, ...] = ()


@dataclass(frozen=True)
class Correction:
    """New values of one marked record: the changed ``calls`` columns, and per seq the
    changed ``queue_entries`` columns. ``old_marks`` guards the update."""

    uniqueid: str
    old_marks: str
    call: Row
    entries: dict[int, Row]
    # Every queue stay anew (the AMI side lost the caller's path): replaces the rows.
    replace_entries: list[Row] | None = None


@dataclass
class HealPlan:
    """What healing would do."""

    inserts: list[CallRecord] = field(default_factory=list)
    corrections: list[Correction] = field(default_factory=list)
    waiting: int = 0  # queue_log calls not over, not settled, or open in the tracker


@dataclass
class HealResult:
    """What a :func:`heal` pass did."""

    inserted: int = 0
    corrected: int = 0
    waiting: int = 0
    examined: int = 0


# ----------------------------------------------------------------------------- pure core
def record_from_queue_log(call: QlCall, pbx_id: str, *, cut: bool = False) -> CallRecord:
    """The call record of a closed queue_log call (``source = "queue_log"``).

    ``cut``: the call was still open when the PBX started again (a QUEUESTART after its
    last line: a crash or a restart took it): a waiting stay's outcome is ``cut``, and
    the end of the call (and of an answered conversation, its talk) is not known."""
    entries: list[QueueEntryRecord] = []
    for e in call.entries:
        # As the AMI records have it: the caller leaves the queue when answered.
        left = e.left_s if e.answered_s is None else e.answered_s
        outcome = e.outcome
        if cut and e.answered_s is None and e.left_s is None:
            outcome = "cut"
        entries.append(
            QueueEntryRecord(
                queue=e.queue,
                service=e.service,
                entered_at=float(e.entered_s),
                left_at=None if left is None else float(left),
                answered_at=None if e.answered_s is None else float(e.answered_s),
                outcome=outcome,
                hold_time_s=e.wait_s,
                join_position=e.join_position,
                leave_position=e.leave_position,
                original_position=e.original_position,
                agent_name=e.agent_name,
                ring_no_answer=e.ring_no_answer,
                exit_key=e.exit_key,
                talk_s=None if e.answered_s is None or e.talk_s is None else float(e.talk_s),
            )
        )
    first, last = call.entries[0], call.entries[-1]
    answered = next((e for e in call.entries if e.answered_s is not None), None)
    transferred = any(e.transferred for e in call.entries)
    talks = [e.talk_s for e in call.entries if e.answered_s is not None and e.talk_s is not None]
    record = CallRecord(
        pbx_id=pbx_id,
        uniqueid=call.uniqueid,
        linkedid=call.uniqueid,
        service=first.service,
        exten="",
        caller_num=first.caller_num,
        caller_name=first.caller_name,
        entered_at=float(first.entered_s),
        queues=[e.queue for e in call.entries],
        entries=entries,
        ended_at=None if cut else float(call.end_s),
        ring_no_answer=sum(e.ring_no_answer for e in call.entries),
        join_position=first.join_position,
        transferred=transferred,
        source=SOURCE_QUEUE_LOG,
    )
    if answered is not None:
        record.answered_at = float(answered.answered_s or 0)
        record.outcome = "transferred" if transferred else "answered"
        record.holdtime_s = answered.wait_s
        record.agent_name = answered.agent_name
        if talks:
            record.talk_s = float(sum(talks))
            record.asterisk_talk_s = sum(talks)
    else:
        record.outcome = entries[-1].outcome or "abandoned"
        record.holdtime_s = last.wait_s
        if record.outcome == "abandoned":
            record.abandon_position = last.leave_position
    if cut:
        record.gap = True
        record.marks = ["ended_at", "talk"] if answered is not None else ["ended_at"]
        if answered is not None and not talks:
            record.talk_s = None
    return record


def _wait(entered: Any, answered: Any, left: Any) -> int | None:
    end = answered if answered is not None else left
    return None if end is None or entered is None else int(end) - int(entered)


def correct_marked(current: AmiCall, call: QlCall, pbx_id: str) -> Correction | None:
    """The corrections of a marked AMI record from a closed queue_log call (pure), or
    None when it has no mark queue_log can replace."""
    marks = [m for m in str(current.row.get("marks") or "").split(",") if m]
    healable = [m for m in marks if m in HEALABLE]
    if not healable:
        return None
    qc, qe = call_rows(record_from_queue_log(call, pbx_id))
    new: Row = {}
    entries = {int(e["seq"]): dict(e) for e in current.entries}
    same_path = [entries[s]["queue"] for s in sorted(entries)] == [e["queue"] for e in qe]
    if "outcome" in healable or "left_at" in healable or not same_path:
        return _replace_path(current, marks, qc, qe)
    touched: dict[int, set[str]] = {}

    def entry_set(seq: int, column: str, value: Any) -> None:
        if seq in entries and entries[seq][column] != value:
            entries[seq][column] = value
            touched.setdefault(seq, set()).add(column)

    for mark in healable:
        if mark == "entered_at":
            new["entered_at_ms"] = qc["entered_at_ms"]
            entry_set(0, "entered_at_ms", qe[0]["entered_at_ms"])
        elif mark == "answered_at":
            new["answered_at_ms"] = qc["answered_at_ms"]
            new["holdtime_s"] = qc["holdtime_s"]
            for seq, q in enumerate(qe):
                entry_set(seq, "answered_at_ms", q["answered_at_ms"])
                entry_set(seq, "hold_time_s", q["hold_time_s"])
        elif mark == "left_at":
            for seq, q in enumerate(qe):
                entry_set(seq, "left_at_ms", q["left_at_ms"])
        elif mark == "ended_at":
            new["ended_at_ms"] = qc["ended_at_ms"]
        elif mark == "talk":
            new["talk_ms"] = qc["talk_ms"]
            new["asterisk_talk_s"] = qc["asterisk_talk_s"]
        elif mark == "outcome":
            for column in ("outcome", "transferred", "abandon_position"):
                new[column] = qc[column]
            for seq, q in enumerate(qe):
                entry_set(seq, "outcome", q["outcome"])
    if {"entered_at", "answered_at", "left_at", "outcome"} & set(healable):
        merged = {**current.row, **new}
        last = entries[max(entries)] if entries else {}
        end = merged["answered_at_ms"]
        if end is None:
            end = last.get("left_at_ms")
        if end is None:
            end = merged["ended_at_ms"]
        new["wait_ms"] = qc["wait_ms"] if end is None else int(end) - int(merged["entered_at_ms"])
        new["wait_asterisk_s"] = qc["wait_asterisk_s"]
        for seq, q in enumerate(qe):
            if seq in entries:
                e = entries[seq]
                entry_set(
                    seq, "wait_ms", _wait(e["entered_at_ms"], e["answered_at_ms"], e["left_at_ms"])
                )
                entry_set(seq, "wait_asterisk_s", q["wait_asterisk_s"])
    remaining = [m for m in marks if m not in HEALABLE and m != HEALED]
    new["marks"] = ",".join([*remaining, HEALED])
    changed = {k: v for k, v in new.items() if current.row.get(k) != v}
    return Correction(
        uniqueid=str(current.row["uniqueid"]),
        old_marks=str(current.row.get("marks") or ""),
        call=changed,
        entries={seq: {c: entries[seq][c] for c in cols} for seq, cols in touched.items()},
    )


_KEPT_FROM_AMI: Final = ("linkedid", "service", "exten", "caller_num", "caller_name", "ivr")


def _replace_path(current: AmiCall, marks: list[str], qc: Row, qe: list[Row]) -> Correction:
    """The AMI side lost the caller's path (it left a queue unseen): queue_log's stays,
    outcome, answer and end replace the record's; what the AMI saw exactly and queue_log
    has only to the second or not at all is kept: the caller, the dialed number, the IVR
    result and, unless marked, the first entry time."""
    row = current.row
    entered_ms = int(row["entered_at_ms"])
    if "entered_at" not in marks and qe and current.entries:
        first = min(current.entries, key=lambda e: int(e["seq"]))
        if first["queue"] == qe[0]["queue"]:
            qe[0]["entered_at_ms"] = entered_ms
            qc["entered_at_ms"] = entered_ms
    for entry in qe:
        entry["wait_ms"] = _wait(
            entry["entered_at_ms"], entry["answered_at_ms"], entry["left_at_ms"]
        )
    end = qc["answered_at_ms"]
    if end is None and qe:
        end = qe[-1]["left_at_ms"]
    qc["wait_ms"] = None if end is None else int(end) - int(qc["entered_at_ms"])
    for column in _KEPT_FROM_AMI:
        qc[column] = row[column]
    qc["source"] = row["source"]
    qc["resynced"] = row["resynced"]
    qc["gap"] = row["gap"]
    remaining = [m for m in marks if m not in HEALABLE and m != HEALED]
    still_unknown = [m for m in str(qc["marks"]).split(",") if m]  # a cut call's end
    qc["marks"] = ",".join([*remaining, *still_unknown, HEALED])
    changed = {k: v for k, v in qc.items() if k not in ("pbx_id", "uniqueid")}
    return Correction(
        uniqueid=str(row["uniqueid"]),
        old_marks=str(row.get("marks") or ""),
        call=changed,
        entries={},
        replace_entries=qe,
    )


def plan_healing(
    pbx_id: str,
    ami: Mapping[str, AmiCall],
    ql: Iterable[QlCall],
    *,
    cutoff_ms: int,
    open_uniqueids: frozenset[str] | set[str] = frozenset(),
    boots_s: Sequence[int] = (),
) -> HealPlan:
    """The merge of queue_log calls into the AMI records (pure; see the module doc).

    ``ami`` holds the stored records of (at least) the callids in ``ql``; a queue_log call
    is used only when closed and over by ``cutoff_ms`` (now − settle time).
    """
    plan = HealPlan()
    for call in sorted(ql, key=lambda c: c.uniqueid):
        if not call.entries:
            continue
        # Open in queue_log, and the PBX started again after its last line: cut.
        cut = not call.closed and any(b >= call.end_s for b in boots_s)
        if (
            (not call.closed and not cut)
            or call.end_s * 1000 > cutoff_ms
            or call.uniqueid in open_uniqueids
        ):
            plan.waiting += 1
            continue
        current = ami.get(call.uniqueid)
        if current is None:
            plan.inserts.append(record_from_queue_log(call, pbx_id, cut=cut))
            continue
        if cut:
            # The AMI side saw the restart itself (12+: FullyBooted's Uptime); on 11 it
            # could only say the caller left unseen: queue_log's restart tells it was cut.
            marks = [m for m in str(current.row.get("marks") or "").split(",") if m]
            if "outcome" in marks:
                qc, qe = call_rows(record_from_queue_log(call, pbx_id, cut=True))
                plan.corrections.append(_replace_path(current, marks, qc, qe))
            continue
        correction = correct_marked(current, call, pbx_id)
        if correction is not None:
            plan.corrections.append(correction)
    return plan


def provenance_of(source: str, marks: str) -> str:
    """The provenance class of a stored record: ``queue_log`` (filled from queue_log),
    ``estimated`` (some value still estimated: marks left), ``healed`` (estimated values
    all replaced by queue_log's) or ``measured`` (every value observed in AMI events)."""
    if source == SOURCE_QUEUE_LOG:
        return "queue_log"
    names = [m for m in marks.split(",") if m]
    if any(m != HEALED for m in names):
        return "estimated"
    if HEALED in names:
        return "healed"
    return "measured"


# ------------------------------------------------------------------------------ database
def _ql_join(since_ms: int | None) -> list[Any]:
    conds: list[Any] = []
    if since_ms is not None:
        conds.append(ql_calls.c.entered_at_ms >= since_ms)
    return conds


async def _candidates(
    conn: AsyncConnection, pbx_id: str, since_ms: int | None
) -> tuple[list[str], dict[str, AmiCall]]:
    """Queue_log callids absent from ``calls``, and the marked records queue_log knows."""
    on = sa.and_(calls.c.pbx_id == ql_calls.c.pbx_id, calls.c.uniqueid == ql_calls.c.uniqueid)
    missing_q = (
        sa.select(ql_calls.c.uniqueid)
        .select_from(ql_calls.outerjoin(calls, on))
        .where(ql_calls.c.pbx_id == pbx_id, calls.c.uniqueid.is_(None), *_ql_join(since_ms))
    )
    missing = [str(r[0]) for r in await conn.execute(missing_q)]
    marked_q = (
        sa.select(calls)
        .select_from(calls.join(ql_calls, on))
        .where(
            calls.c.pbx_id == pbx_id,
            calls.c.marks != "",
            calls.c.marks != HEALED,
            *_ql_join(since_ms),
        )
    )
    marked: dict[str, AmiCall] = {}
    rows = {str(r.uniqueid): dict(r._mapping) for r in await conn.execute(marked_q)}
    rows = {
        uid: row
        for uid, row in rows.items()
        if any(m in HEALABLE for m in str(row["marks"]).split(","))
    }
    ids = sorted(rows)
    entries: dict[str, list[Row]] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        result = await conn.execute(
            sa.select(queue_entries)
            .where(queue_entries.c.pbx_id == pbx_id, queue_entries.c.uniqueid.in_(chunk))
            .order_by(queue_entries.c.uniqueid, queue_entries.c.seq)
        )
        for r in result:
            entries.setdefault(str(r.uniqueid), []).append(dict(r._mapping))
    for uid, row in rows.items():
        marked[uid] = AmiCall(row, tuple(entries.get(uid, [])))
    return missing, marked


async def _boots(conn: AsyncConnection, pbx_id: str, since_ms: int | None) -> list[int]:
    """When the PBX started (QUEUESTART lines), in whole seconds (since ``since_ms``)."""
    query = sa.select(ql_lines.c.time_s).where(
        ql_lines.c.pbx_id == pbx_id, ql_lines.c.verb == "QUEUESTART"
    )
    if since_ms is not None:
        query = query.where(ql_lines.c.time_s >= since_ms // 1000)
    return sorted(int(r[0]) for r in await conn.execute(query))


async def _open_entries(conn: AsyncConnection, pbx_id: str, since_ms: int | None) -> list[str]:
    """Callids that entered a queue and have no call record (folded or not): with a
    restart after them, they may be calls the PBX took down with it."""
    on = sa.and_(calls.c.pbx_id == ql_lines.c.pbx_id, calls.c.uniqueid == ql_lines.c.callid)
    query = (
        sa.select(ql_lines.c.callid)
        .distinct()
        .select_from(ql_lines.outerjoin(calls, on))
        .where(
            ql_lines.c.pbx_id == pbx_id,
            ql_lines.c.verb == "ENTERQUEUE",
            calls.c.uniqueid.is_(None),
        )
    )
    if since_ms is not None:
        query = query.where(ql_lines.c.time_s >= since_ms // 1000)
    return [str(r[0]) for r in await conn.execute(query)]


async def _apply_inserts(conn: AsyncConnection, records: Sequence[CallRecord]) -> int:
    inserted = 0
    for start in range(0, len(records), _CHUNK):
        chunk = records[start : start + _CHUNK]
        pbx_id = chunk[0].pbx_id
        ids = [r.uniqueid for r in chunk]
        present = {
            str(r[0])
            for r in await conn.execute(
                sa.select(calls.c.uniqueid).where(
                    calls.c.pbx_id == pbx_id, calls.c.uniqueid.in_(ids)
                )
            )
        }
        call_list: list[Row] = []
        entry_list: list[Row] = []
        for record in chunk:
            if record.uniqueid in present:
                continue  # the live path wrote it meanwhile: its record wins
            row, entries = call_rows(record)
            call_list.append(row)
            entry_list.extend(entries)
        if not call_list:
            continue
        new_ids = [str(r["uniqueid"]) for r in call_list]
        await conn.execute(
            sa.delete(queue_entries).where(
                queue_entries.c.pbx_id == pbx_id, queue_entries.c.uniqueid.in_(new_ids)
            )
        )
        stmt = _insert(conn, calls).on_conflict_do_nothing(index_elements=["pbx_id", "uniqueid"])
        await conn.execute(stmt, call_list)
        if entry_list:
            await conn.execute(sa.insert(queue_entries), entry_list)
        inserted += len(call_list)
    return inserted


async def _apply_corrections(
    conn: AsyncConnection, pbx_id: str, corrections: Sequence[Correction]
) -> int:
    corrected = 0
    for fix in corrections:
        result = await conn.execute(
            sa.update(calls)
            .where(
                calls.c.pbx_id == pbx_id,
                calls.c.uniqueid == fix.uniqueid,
                calls.c.marks == fix.old_marks,  # unchanged since read
            )
            .values(**fix.call)
        )
        if result.rowcount != 1:
            continue
        corrected += 1
        if fix.replace_entries is not None:
            await conn.execute(
                sa.delete(queue_entries).where(
                    queue_entries.c.pbx_id == pbx_id, queue_entries.c.uniqueid == fix.uniqueid
                )
            )
            if fix.replace_entries:
                await conn.execute(sa.insert(queue_entries), fix.replace_entries)
        for seq, values in fix.entries.items():
            await conn.execute(
                sa.update(queue_entries)
                .where(
                    queue_entries.c.pbx_id == pbx_id,
                    queue_entries.c.uniqueid == fix.uniqueid,
                    queue_entries.c.seq == seq,
                )
                .values(**values)
            )
    return corrected


async def heal(
    engine: AsyncEngine,
    pbx_id: str,
    *,
    now_ms: int | None = None,
    settle_s: float = DEFAULT_SETTLE_S,
    since_ms: int | None = None,
    open_uniqueids: frozenset[str] | set[str] = frozenset(),
    service_for_queue: Callable[[str], str] = service_of_queue,
) -> HealResult:
    """Merge the stored queue_log calls of ``pbx_id`` into ``calls`` (see the module doc).

    ``since_ms`` limits the pass to queue_log calls that entered since then (the daemon's
    periodic pass); None examines every stored queue_log call (``rebuild``).
    """
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    cutoff_ms = now_ms - int(settle_s * 1000)
    async with engine.connect() as conn:
        missing, marked = await _candidates(conn, pbx_id, since_ms)
        boots = await _boots(conn, pbx_id, since_ms)
        if boots:
            missing = sorted(set(missing) | set(await _open_entries(conn, pbx_id, since_ms)))
    result = HealResult()
    ids = sorted(set(missing) | set(marked))
    # In slices: short write transactions (the log writer shares the database) and short
    # stretches of work between awaits (the daemon's event loop also reads the AMI).
    for start in range(0, len(ids), _CHUNK):
        chunk = set(ids[start : start + _CHUNK])
        async with engine.connect() as conn:
            folded = await _refold_stored(conn, pbx_id, chunk, service_for_queue)
        plan = plan_healing(
            pbx_id,
            {uid: marked[uid] for uid in chunk if uid in marked},
            folded.values(),
            cutoff_ms=cutoff_ms,
            open_uniqueids=open_uniqueids,
            boots_s=boots,
        )
        result.examined += len(folded)
        result.waiting += plan.waiting
        if plan.inserts or plan.corrections:
            async with engine.begin() as conn:
                result.inserted += await _apply_inserts(conn, plan.inserts)
                result.corrected += await _apply_corrections(conn, pbx_id, plan.corrections)
    return result


@dataclass(frozen=True)
class Provenance:
    """How many records of a period were measured, estimated, healed or filled from
    queue_log (see :func:`provenance_of`)."""

    measured: int = 0
    estimated: int = 0
    healed: int = 0
    queue_log: int = 0

    @property
    def total(self) -> int:
        """Every record of the period."""
        return self.measured + self.estimated + self.healed + self.queue_log


async def count_provenance(
    engine: AsyncEngine, period: Period, pbx_id: str | None = None
) -> Provenance:
    """The records of a period (by entry time) counted by source and marks: the report
    legend's "calls from queue_log / from resync" figures."""
    conds: list[Any] = [
        calls.c.entered_at_ms >= period.start_ms,
        calls.c.entered_at_ms < period.end_ms,
    ]
    if pbx_id is not None:
        conds.append(calls.c.pbx_id == pbx_id)
    stmt = (
        sa.select(calls.c.source, calls.c.marks, sa.func.count())
        .where(*conds)
        .group_by(calls.c.source, calls.c.marks)
    )
    counts: Counter[str] = Counter()
    async with engine.connect() as conn:
        for source, marks, n in await conn.execute(stmt):
            counts[provenance_of(str(source), str(marks or ""))] += int(n)
    return Provenance(
        measured=counts["measured"],
        estimated=counts["estimated"],
        healed=counts["healed"],
        queue_log=counts["queue_log"],
    )
