"""Recording an interaction: validate the walk against the script, store, publish."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from centralita.console.exceptions import InteractionError
from centralita.console.schema import interactions
from centralita.mail.outbox import NewMessage, Outbox, enqueue, view
from centralita.scripts import Move, ScriptError, load_script, replay
from centralita.scripts.email import email_steps, render

LOCAL_TZ = ZoneInfo("America/La_Paz")

MAX_NOTE = 4000

# Outcomes any call may end with, whatever its script (beside the script's own outcomes).
GENERIC_OUTCOMES: dict[str, str] = {
    "colgo": "Colgó",
    "numero_equivocado": "Número equivocado",
    "llamada_cortada": "Llamada cortada",
}


class Interaction(msgspec.Struct, kw_only=True):
    """``centralita/<pbx>/interactions`` and one row of the table."""

    schema: str = "centralita.interaction/1"
    id: int | None = None
    pbx: str
    call_id: str
    agent: str
    user: str
    service: str
    script_id: str
    script_version: int
    trail: list[tuple[int, int]]
    outcome_code: str
    outcome_label: str
    note: str
    recorded_at_ms: int


def build(
    *,
    pbx: str,
    call_id: str,
    agent: str,
    user: str,
    service: str,
    script_id: str,
    script_version: int,
    trail: list[tuple[int, int]],
    note: str,
    generic: str = "",
) -> Interaction:
    """Replay the trail on the script; the walk must end on an outcome.

    With ``generic`` (a key of :data:`GENERIC_OUTCOMES`: the caller hung up, a wrong
    number, a dropped line) the walk may stop anywhere, and a call without a script may
    be recorded too.
    """
    if generic and generic not in GENERIC_OUTCOMES:
        raise InteractionError(f"resultado genérico desconocido: {generic}")
    if generic and not script_id:
        return Interaction(
            pbx=pbx,
            call_id=call_id,
            agent=agent,
            user=user,
            service=service,
            script_id="",
            script_version=0,
            trail=[],
            outcome_code=generic,
            outcome_label=GENERIC_OUTCOMES[generic],
            note=note.strip()[:MAX_NOTE],
            recorded_at_ms=int(time.time() * 1000),
        )
    try:
        script = load_script(script_id)
    except ScriptError as exc:
        raise InteractionError(f"guion desconocido: {script_id}") from exc
    if script.version != script_version:
        raise InteractionError(
            f"el guion {script_id} cambió (versión {script.version}, no {script_version})"
        )
    try:
        walk = replay(script, [Move(s, o) for s, o in trail])
    except (ScriptError, KeyError) as exc:
        raise InteractionError(f"recorrido inválido: {exc}") from exc
    if generic:
        code, label = generic, GENERIC_OUTCOMES[generic]
    elif walk.outcome is None:
        raise InteractionError("el recorrido no llegó a un resultado")
    else:
        code, label = walk.outcome.code, walk.outcome.label
    return Interaction(
        pbx=pbx,
        call_id=call_id,
        agent=agent,
        user=user,
        service=service,
        script_id=script.id,
        script_version=script.version,
        trail=[(m.step, m.option) for m in walk.trail],
        outcome_code=code,
        outcome_label=label,
        note=note.strip()[:MAX_NOTE],
        recorded_at_ms=int(time.time() * 1000),
    )


class InteractionStore:
    """Append-only writes of interactions (the table comes from the migrations)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def append(self, item: Interaction, call: Mapping[str, Any] | None = None) -> int:
        """Insert one interaction; returns its id.

        When its walk went through e-mail steps, their messages are queued in the outbox
        in the same transaction (once per call and step: recording again queues nothing).
        `call` is the call's screen-pop (caller, customer) the templates draw from.
        """
        async with self.engine.begin() as conn:
            return await append_in(conn, item, call)


async def append_in(
    conn: AsyncConnection, item: Interaction, call: Mapping[str, Any] | None = None
) -> int:
    """:meth:`InteractionStore.append` inside the caller's transaction."""
    row = {
        "pbx_id": item.pbx,
        "call_uniqueid": item.call_id,
        "agent": item.agent,
        "user_name": item.user,
        "service": item.service,
        "script_id": item.script_id,
        "script_version": item.script_version,
        "trail": msgspec.json.encode(item.trail).decode(),
        "outcome_code": item.outcome_code,
        "outcome_label": item.outcome_label,
        "note": item.note,
        "recorded_at_ms": item.recorded_at_ms,
    }
    result = await conn.execute(interactions.insert().returning(interactions.c.id), row)
    new_id = int(result.scalar_one())
    item.id = new_id
    for message in mail_messages(item, call or {}):
        await enqueue(conn, message)
    # An outcome that passes the case to a supervisor opens a handover (console/handovers).
    from centralita.console.handovers import open_handover

    await open_handover(conn, item, call)
    return new_id


def _call_time(call: Mapping[str, Any]) -> datetime | None:
    """When the call was answered (the pop's ``answered_at``): the time the e-mail reports
    (a damage is dated by the call, not by when the agent saved it)."""
    text = call.get("answered_at") or call.get("entered_at")
    if not isinstance(text, str) or not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def email_fields(item: Interaction, call: Mapping[str, Any]) -> dict[str, str]:
    """The template fields of an interaction (`centralita.scripts.email.EMAIL_FIELDS`)."""
    customer = call.get("customer") or {}
    ivr = call.get("ivr") or {}
    when = _call_time(call) or datetime.fromtimestamp(item.recorded_at_ms / 1000, UTC)
    when = when.astimezone(LOCAL_TZ)
    script = load_script(item.script_id)
    return {
        "llamante": str(call.get("caller_num") or ""),
        "cliente": str(customer.get("name") or ""),
        "contrato": str(customer.get("contract") or ivr.get("customer") or ""),
        "nota": item.note,
        "fecha": when.strftime("%d/%m/%Y"),
        "hora": when.strftime("%H:%M"),
        "servicio": item.service or script.id,
        "servicio_nombre": str(call.get("service_name") or script.service),
        "agente": str(call.get("agent_name") or item.user),
        "resultado": item.outcome_label,
        "llamada": item.call_id,
    }


def mail_messages(item: Interaction, call: Mapping[str, Any]) -> list[NewMessage]:
    """The rendered messages of the e-mail steps the interaction's walk went through."""
    if not item.script_id:  # a generic outcome of a call without a script
        return []
    steps = [step for step, _option in item.trail]
    return step_messages(item, call, steps, user_name=item.user, at_ms=item.recorded_at_ms)


def step_messages(
    item: Interaction,
    call: Mapping[str, Any],
    steps: list[int],
    *,
    user_name: str,
    at_ms: int,
) -> list[NewMessage]:
    """The rendered messages of the e-mail steps among ``steps`` of ``item``'s script (the
    agent's walk, or the supervisor's part when a handover is closed), queued by
    ``user_name`` at ``at_ms``."""
    script = load_script(item.script_id)
    actions = email_steps(script, steps)
    if not actions:
        return []
    fields = email_fields(item, call)
    messages = []
    for number, action in actions:
        subject, body = render(action, fields)
        messages.append(
            NewMessage(
                pbx_id=item.pbx,
                call_uniqueid=item.call_id,
                interaction_id=item.id,
                agent=item.agent,
                user_name=user_name,
                script_id=script.id,
                step=number,
                recipient=action.to,
                subject=subject,
                body=body,
                created_at_ms=at_ms,
            )
        )
    return messages


async def recent_mail(engine: AsyncEngine, agent: str | None, limit: int = 50) -> list[Any]:
    """The console's list of an agent's recent e-mails (None: every agent's), with state."""
    return view(await Outbox(engine).recent(agent, limit))
