"""Handovers: the cases the procedure passes from the agent to a supervisor.

A script's outcome with ``continues_at`` ends the agent's part and names the step where
the supervisor resumes (102 step 7.1 "deriva los datos del cliente a Supervisión" → step
8, and the supervisor's call back of step 11; 103 step 13 "boleta manual" → step 14).
When an agent records an interaction ending in such an outcome, a handover item is opened
in the same transaction (:func:`open_handover`, called by the interaction store); the
supervisors' inbox lists it, a supervisor takes it (assigned) and closes it with the
outcome of the supervisor's part and a note.

One handover per call and script: recording the same call again opens nothing new. Its
own ``MetaData`` (registered in `centralita.db.all_metadata`); created by migration 0013.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol

import msgspec
import sqlalchemy as sa
from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from centralita.console.exceptions import InteractionError
from centralita.scripts import ScriptError, load_script
from centralita.scripts.model import Script

metadata = MetaData()

STATES: Final = ("open", "assigned", "closed")
STATE_LABELS: Final = {"open": "sin asignar", "assigned": "asignado", "closed": "cerrado"}
MAX_NOTE: Final = 4000

handovers = Table(
    "handovers",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("pbx_id", String(64), nullable=False),
    Column("call_uniqueid", String(64), nullable=False),
    Column("interaction_id", BigInteger, nullable=True, comment="interactions.id it came from"),
    Column("service", String(32), nullable=False, default=""),
    Column("script_id", String(32), nullable=False),
    Column("outcome_code", String(64), nullable=False, comment="the agent's outcome"),
    Column("outcome_label", String(200), nullable=False, default=""),
    Column("continues_at", Integer, nullable=False, comment="the supervisor's first step"),
    Column("agent", String(80), nullable=False),
    Column("agent_user", String(80), nullable=False, comment="console user who recorded it"),
    Column("agent_note", Text, nullable=False, default=""),
    Column("caller_num", String(64), nullable=False, default=""),
    Column("customer", String(200), nullable=False, default="", comment="name and contract"),
    Column("state", String(16), nullable=False, comment="open, assigned, closed"),
    Column("assigned_to", String(80), nullable=True),
    Column("assigned_at_ms", BigInteger, nullable=True),
    Column("closed_by", String(80), nullable=True),
    Column("closed_at_ms", BigInteger, nullable=True),
    Column("resolution_code", String(64), nullable=True, comment="the supervisor's outcome"),
    Column("resolution_label", String(200), nullable=True),
    Column("close_note", Text, nullable=True),
    Column("created_at_ms", BigInteger, nullable=False),
)
Index(
    "ux_handovers_call",
    handovers.c.pbx_id,
    handovers.c.call_uniqueid,
    handovers.c.script_id,
    unique=True,
)
Index("ix_handovers_state", handovers.c.state, handovers.c.created_at_ms)


class Recorded(Protocol):
    """What a handover needs of a recorded interaction (``interactions.Interaction``)."""

    @property
    def id(self) -> int | None: ...
    @property
    def pbx(self) -> str: ...
    @property
    def call_id(self) -> str: ...
    @property
    def agent(self) -> str: ...
    @property
    def user(self) -> str: ...
    @property
    def service(self) -> str: ...
    @property
    def script_id(self) -> str: ...
    @property
    def outcome_code(self) -> str: ...
    @property
    def outcome_label(self) -> str: ...
    @property
    def note(self) -> str: ...
    @property
    def recorded_at_ms(self) -> int: ...


def continues_at(script_id: str, outcome_code: str) -> int | None:
    """The supervisor's step an outcome hands over to, or None (the agent's part ends)."""
    if not script_id:
        return None
    try:
        script = load_script(script_id)
    except ScriptError:
        return None
    if not script.has_outcome(outcome_code):
        return None  # a generic outcome (colgó, ...): nothing to hand over
    return script.outcome(outcome_code).continues_at


def supervisor_outcomes(script: Script, at: int) -> list[dict[str, str]]:
    """The outcomes the supervisor's part can end in, from step ``at`` (graph order)."""
    seen: set[int] = set()
    found: list[str] = []
    todo = [at]
    while todo:
        number = todo.pop(0)
        if number in seen or not script.has_step(number):
            continue
        seen.add(number)
        step = script.step(number)
        targets: list[tuple[int | None, str | None]] = [(step.next, step.outcome)]
        targets += [(b.goto, b.outcome) for b in step.branches]
        for goto, outcome in targets:
            if outcome is not None and outcome not in found:
                found.append(outcome)
            if goto is not None:
                todo.append(goto)
    return [{"code": c, "label": script.outcome(c).label} for c in found]


def supervisor_path(script: Script, at: int, outcome: str) -> list[int]:
    """The supervisor's steps from ``at`` that lead to ``outcome`` (the first such path,
    graph order), or [] when none does: the steps whose actions (e-mails) the close
    carries out."""
    parents: dict[int, int | None] = {at: None}
    todo = [at]
    while todo:
        number = todo.pop(0)
        if not script.has_step(number):
            continue
        step = script.step(number)
        targets: list[tuple[int | None, str | None]] = [(step.next, step.outcome)]
        targets += [(b.goto, b.outcome) for b in step.branches]
        for goto, reached in targets:
            if reached == outcome:
                path: list[int] = []
                node: int | None = number
                while node is not None:
                    path.append(node)
                    node = parents[node]
                return path[::-1]
            if goto is not None and goto not in parents:
                parents[goto] = number
                todo.append(goto)
    return []


def supervisor_steps(script: Script, at: int) -> list[dict[str, Any]]:
    """The supervisor's steps from ``at`` (number and text), for the inbox."""
    out = []
    for step in script.steps:
        if step.number >= at and step.actor == "supervisora":
            out.append({"number": step.number, "label": step.label, "text": step.text})
    return out


def _customer(call: Mapping[str, Any]) -> str:
    customer = call.get("customer") or {}
    if not isinstance(customer, Mapping):
        return ""
    name = str(customer.get("name") or "")
    contract = str(customer.get("contract") or "")
    return f"{name} (contrato {contract})" if name and contract else name or contract


async def open_handover(
    conn: AsyncConnection, item: Recorded, call: Mapping[str, Any] | None = None
) -> int | None:
    """Open the handover of a recorded interaction whose outcome passes the case to a
    supervisor, in the caller's transaction; its id, or None (no handover, or the call
    already has one)."""
    at = continues_at(item.script_id, item.outcome_code)
    if at is None:
        return None
    existing = await conn.execute(
        sa.select(handovers.c.id).where(
            handovers.c.pbx_id == item.pbx,
            handovers.c.call_uniqueid == item.call_id,
            handovers.c.script_id == item.script_id,
        )
    )
    if existing.first() is not None:
        return None
    call = call or {}
    row = {
        "pbx_id": item.pbx,
        "call_uniqueid": item.call_id,
        "interaction_id": item.id,
        "service": item.service,
        "script_id": item.script_id,
        "outcome_code": item.outcome_code,
        "outcome_label": item.outcome_label,
        "continues_at": at,
        "agent": item.agent,
        "agent_user": item.user,
        "agent_note": item.note,
        "caller_num": str(call.get("caller_num") or "")[:64],
        "customer": _customer(call)[:200],
        "state": "open",
        "created_at_ms": item.recorded_at_ms,
    }
    result = await conn.execute(handovers.insert().returning(handovers.c.id), row)
    return int(result.scalar_one())


_MailKey = tuple[str, str, str]


async def _mail_of(
    conn: AsyncConnection, rows: Sequence[sa.RowMapping]
) -> dict[_MailKey, list[dict[str, Any]]]:
    """The outbox messages of the handovers' calls (e-mails the supervisor's close queued),
    by (pbx, call, script): step, recipient and state, for the inbox."""
    from centralita.mail.outbox import STATE_LABELS as MAIL_STATES
    from centralita.mail.schema import outbox

    calls = {str(r["call_uniqueid"]) for r in rows if r["state"] == "closed"}
    if not calls:
        return {}
    found: dict[_MailKey, list[dict[str, Any]]] = {}
    query = (
        sa.select(
            outbox.c.pbx_id,
            outbox.c.call_uniqueid,
            outbox.c.script_id,
            outbox.c.step,
            outbox.c.recipient,
            outbox.c.state,
        )
        .where(outbox.c.call_uniqueid.in_(sorted(calls)))
        .order_by(outbox.c.id)
    )
    for m in (await conn.execute(query)).mappings():
        key = (str(m["pbx_id"]), str(m["call_uniqueid"]), str(m["script_id"]))
        found.setdefault(key, []).append(
            {
                "step": int(m["step"]),
                "recipient": str(m["recipient"]),
                "state": str(m["state"]),
                "state_label": MAIL_STATES.get(str(m["state"]), str(m["state"])),
            }
        )
    return found


def _view(
    row: sa.RowMapping, mail: Mapping[_MailKey, list[dict[str, Any]]] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {c.name: row[c.name] for c in handovers.c}
    out["state_label"] = STATE_LABELS.get(str(row["state"]), str(row["state"]))
    at = int(row["continues_at"])
    key = (str(row["pbx_id"]), str(row["call_uniqueid"]), str(row["script_id"]))
    # only the supervisor's steps' e-mails (the agent's own went with the interaction)
    out["mail"] = [m for m in (mail or {}).get(key, []) if m["step"] >= at]
    try:
        script = load_script(str(row["script_id"]))
    except ScriptError:
        out["steps"], out["resolutions"], out["service_name"] = [], [], ""
        return out
    out["service_name"] = script.service
    out["steps"] = supervisor_steps(script, at)
    out["resolutions"] = supervisor_outcomes(script, at)
    return out


class HandoverStore:
    """The supervisors' inbox: list, take, close."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def list(self, state: str = "", limit: int = 200) -> list[dict[str, Any]]:
        """Handovers, newest first; ``state`` one of :data:`STATES`, or "pending" (not
        closed), or "" (all)."""
        query = sa.select(handovers).order_by(handovers.c.created_at_ms.desc()).limit(limit)
        if state == "pending":
            query = query.where(handovers.c.state != "closed")
        elif state:
            query = query.where(handovers.c.state == state)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
            mail = await _mail_of(conn, rows)
        return [_view(r, mail) for r in rows]

    async def get(self, handover_id: int) -> dict[str, Any] | None:
        """One handover, or None."""
        async with self.engine.connect() as conn:
            row = (
                (await conn.execute(sa.select(handovers).where(handovers.c.id == handover_id)))
                .mappings()
                .first()
            )
            mail = await _mail_of(conn, [row] if row is not None else [])
        return None if row is None else _view(row, mail)

    async def assign(self, handover_id: int, supervisor: str) -> dict[str, Any]:
        """Give an open or assigned handover to ``supervisor`` (taking or re-assigning)."""
        now = int(time.time() * 1000)
        async with self.engine.begin() as conn:
            result = await conn.execute(
                handovers.update()
                .where(handovers.c.id == handover_id, handovers.c.state != "closed")
                .values(state="assigned", assigned_to=supervisor, assigned_at_ms=now)
            )
            if result.rowcount != 1:
                raise InteractionError(await self._why(conn, handover_id))
        found = await self.get(handover_id)
        assert found is not None
        return found

    async def close(
        self, handover_id: int, supervisor: str, resolution: str, note: str
    ) -> dict[str, Any]:
        """Close a handover with the supervisor's outcome and a note (both required)."""
        current = await self.get(handover_id)
        if current is None:
            raise InteractionError(f"traspaso {handover_id} inexistente")
        labels = {r["code"]: r["label"] for r in current["resolutions"]}
        if resolution not in labels:
            raise InteractionError("elija el resultado de la supervisión")
        note = note.strip()[:MAX_NOTE]
        if not note:
            raise InteractionError("escriba una nota para cerrar el traspaso")
        now = int(time.time() * 1000)
        async with self.engine.begin() as conn:
            result = await conn.execute(
                handovers.update()
                .where(handovers.c.id == handover_id, handovers.c.state != "closed")
                .values(
                    state="closed",
                    assigned_to=sa.func.coalesce(handovers.c.assigned_to, supervisor),
                    assigned_at_ms=sa.func.coalesce(handovers.c.assigned_at_ms, now),
                    closed_by=supervisor,
                    closed_at_ms=now,
                    resolution_code=resolution,
                    resolution_label=labels[resolution],
                    close_note=note,
                )
            )
            if result.rowcount != 1:
                raise InteractionError(await self._why(conn, handover_id))
            queued = await _queue_mail(
                conn, current, supervisor=supervisor, resolution=resolution, note=note, now_ms=now
            )
        found = await self.get(handover_id)
        assert found is not None
        found["mail_queued"] = queued
        return found

    @staticmethod
    async def _why(conn: AsyncConnection, handover_id: int) -> str:
        state = (
            await conn.execute(sa.select(handovers.c.state).where(handovers.c.id == handover_id))
        ).scalar()
        if state is None:
            return f"traspaso {handover_id} inexistente"
        return f"el traspaso {handover_id} ya está cerrado"


async def _queue_mail(
    conn: AsyncConnection,
    handover: Mapping[str, Any],
    *,
    supervisor: str,
    resolution: str,
    note: str,
    now_ms: int,
) -> list[str]:
    """Queue the e-mails of the supervisor's steps that led to ``resolution`` (103 step 15:
    the new digitation to the Jefatura del sector), in the close's transaction; the
    recipients' names. The template fields come from the call's screen-pop kept with its
    work item (caller, customer, answer time); the note is the agent's (what the customer
    said) followed by the supervisor's."""
    from centralita.console.interactions import Interaction, step_messages
    from centralita.console.schema import work_items
    from centralita.mail.outbox import enqueue

    try:
        script = load_script(str(handover["script_id"]))
    except ScriptError:
        return []
    path = supervisor_path(script, int(handover["continues_at"]), resolution)
    if not any(script.step(n).email for n in path if script.has_step(n)):
        return []
    pop = (
        await conn.execute(
            sa.select(work_items.c.pop)
            .where(
                work_items.c.pbx_id == handover["pbx_id"],
                work_items.c.call_uniqueid == handover["call_uniqueid"],
            )
            .order_by(work_items.c.id)
            .limit(1)
        )
    ).scalar()
    call: dict[str, Any] = {}
    if pop:
        try:
            decoded = msgspec.json.decode(pop)
        except msgspec.DecodeError:
            decoded = None
        if isinstance(decoded, dict):
            call = decoded
    call.setdefault("caller_num", handover["caller_num"])
    agent_note = str(handover["agent_note"] or "").strip()
    joined = f"{agent_note}\n\nSupervisión ({supervisor}): {note}" if agent_note else note
    item = Interaction(
        id=handover["interaction_id"],
        pbx=str(handover["pbx_id"]),
        call_id=str(handover["call_uniqueid"]),
        agent=str(handover["agent"]),
        user=str(handover["agent_user"]),
        service=str(handover["service"]),
        script_id=script.id,
        script_version=script.version,
        trail=[],
        outcome_code=resolution,
        outcome_label=str(script.outcome(resolution).label),
        note=joined[:MAX_NOTE],
        recorded_at_ms=int(handover["created_at_ms"]),
    )
    messages = step_messages(item, call, path, user_name=supervisor, at_ms=now_ms)
    for message in messages:
        await enqueue(conn, message)
    return [m.recipient for m in messages]
