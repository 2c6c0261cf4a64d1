"""Recording an interaction: validate the walk against the script, store, publish."""

from __future__ import annotations

import asyncio
import time

import msgspec
from sqlalchemy.ext.asyncio import AsyncEngine

from console.exceptions import InteractionError
from console.schema import interactions, metadata
from scripts import Move, ScriptError, load_script, replay

MAX_NOTE = 4000


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
) -> Interaction:
    """Replay the trail on the script; the walk must end on an outcome."""
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
    if walk.outcome is None:
        raise InteractionError("el recorrido no llegó a un resultado")
    return Interaction(
        pbx=pbx,
        call_id=call_id,
        agent=agent,
        user=user,
        service=service,
        script_id=script.id,
        script_version=script.version,
        trail=[(m.step, m.option) for m in walk.trail],
        outcome_code=walk.outcome.code,
        outcome_label=walk.outcome.label,
        note=note.strip()[:MAX_NOTE],
        recorded_at_ms=int(time.time() * 1000),
    )


class InteractionStore:
    """Append-only writes of interactions (creates the table on first use if missing)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._ready = False
        self._lock = asyncio.Lock()

    async def create_schema(self) -> None:
        """Create the interactions table when missing."""
        async with self._lock:
            if not self._ready:
                async with self.engine.begin() as conn:
                    await conn.run_sync(metadata.create_all)
                self._ready = True

    async def append(self, item: Interaction) -> int:
        """Insert one interaction; returns its id."""
        await self.create_schema()
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
        async with self.engine.begin() as conn:
            result = await conn.execute(interactions.insert().returning(interactions.c.id), row)
            new_id = int(result.scalar_one())
        item.id = new_id
        return new_id
