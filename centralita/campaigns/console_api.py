"""The agent console's campaign result (procedure K, agent's step 3), as plain functions.

The console route ``POST /api/campana/resultado`` hands over the request body and the
screen-pop of the call the agent is on (already checked to be theirs); this module finds
the campaign attempt of that call, records the agent's result against it once
(idempotent: a second click returns the stored result) and answers in Spanish.

The attempt comes from the pop (``ivr.fields["CC_CAMPAIGN_ATTEMPT"]``, which the daemon's
campaign pop carries), else from the body's ``attempt_id`` — accepted only when that
attempt was bridged to the pop's agent, so an agent can never record another's call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.campaigns import store
from centralita.campaigns.exceptions import DispositionConflictError, DispositionError
from centralita.campaigns.model import DISPOSITIONS

log = structlog.get_logger(__name__)

ATTEMPT_FIELD = "CC_CAMPAIGN_ATTEMPT"
NOTE_MAX = 2000


@dataclass(frozen=True, slots=True)
class Answer:
    """HTTP status and JSON body."""

    status: int
    body: dict[str, Any]


def _error(status: int, message: str) -> Answer:
    return Answer(status, {"error": message})


def attempt_of_pop(pop: Mapping[str, Any]) -> int | None:
    """The campaign attempt a screen-pop belongs to, if the pop says so."""
    ivr = pop.get("ivr") or {}
    fields = ivr.get("fields") or {} if isinstance(ivr, Mapping) else {}
    raw = str(fields.get(ATTEMPT_FIELD, "")) if isinstance(fields, Mapping) else ""
    return int(raw) if raw.isdigit() else None


async def record_result(
    engine: AsyncEngine,
    pop: Mapping[str, Any],
    body: Mapping[str, Any],
    *,
    user: str,
    at: datetime,
) -> Answer:
    """Record ``body["code"]`` (a disposition of :data:`model.DISPOSITIONS`) for the
    campaign attempt of the call `pop` shows; 201 when stored, 200 when it already was."""
    code = body.get("code")
    if not isinstance(code, str) or code not in DISPOSITIONS:
        return _error(400, f"resultado inválido: use uno de {', '.join(DISPOSITIONS)}")
    note = body.get("note", "")
    if not isinstance(note, str) or len(note) > NOTE_MAX:
        return _error(400, f"nota inválida: texto de hasta {NOTE_MAX} caracteres")
    agent = str(pop.get("agent_interface") or pop.get("agent") or "")
    attempt_id = attempt_of_pop(pop)
    if attempt_id is None:
        given = body.get("attempt_id")
        if not isinstance(given, int) or isinstance(given, bool) or given <= 0:
            return _error(400, "esta llamada no es de la campaña prepago: falta attempt_id")
        bridged_to = await store.attempt_agent(engine, given)
        if bridged_to is None or bridged_to != agent:
            return _error(404, f"el intento {given} no es una llamada de este agente")
        attempt_id = given
    elif "attempt_id" in body and body["attempt_id"] != attempt_id:
        return _error(409, f"la llamada es del intento {attempt_id}, no de {body['attempt_id']}")
    try:
        stored = await store.add_disposition(
            engine, attempt_id, code, agent=agent or user, at=at, note=note
        )
    except DispositionError as exc:
        return _error(409 if isinstance(exc, DispositionConflictError) else 422, str(exc))
    log.info(
        "campaign_result_recorded",
        attempt_id=attempt_id,
        code=stored.code,
        user=user,
        repeated=not stored.created,
    )
    return Answer(
        201 if stored.created else 200,
        {
            "attempt_id": stored.attempt_id,
            "code": stored.code,
            "label": DISPOSITIONS[stored.code],
            "agent": stored.agent,
            "at": stored.at.isoformat(),
            "created": stored.created,
        },
    )
