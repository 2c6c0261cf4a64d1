"""Work items: an answered call's work, kept server-side until the agent records it.

Each pop opens a work item (one per call and agent, table ``work_items``): the page saves
the walk and the note there as the agent goes, so reloads, logouts and daemon restarts lose
nothing, and a call arriving meanwhile waits as the next item instead of replacing the
form. Recording is idempotent: the first request turns the item ``recorded`` and inserts
the interaction in the same transaction; a repeat gets that same interaction back.

The daemon runs :meth:`WorkItems.follow` next to the HTTP server: it opens the items of
the pops and notes when each call ends, from the publisher's in-process bus. The agent's
event stream carries the call's end (``event: fin``) beside its pops; an agent who
transferred the call gets the end of their own part (``calls/transferred``) instead.

After-call work: each item keeps its queue's ``wrapup_s`` (routing.toml, rendered as
Asterisk's ``wrapuptime``), and the page shows what is left of it once the call ended.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa
import structlog
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from centralita.ami_listener.schema import calls
from centralita.console.aftercall import AfterCallPause
from centralita.console.exceptions import InteractionError
from centralita.console.interactions import (
    GENERIC_OUTCOMES,
    MAX_NOTE,
    Interaction,
    append_in,
    build,
)
from centralita.console.schema import interactions, work_items
from centralita.console.users import User
from centralita.screenpop.bus import Delivery, LocalBus
from centralita.screenpop.model import mask
from centralita.screenpop.publisher import ScreenPopPublisher

log = structlog.get_logger(__name__)

HISTORY_LIMIT = 5
OPEN, RECORDED = "open", "recorded"
Handler = Callable[[Request, User], Awaitable[Response]]
Api = Callable[[Handler], Callable[[Request], Awaitable[Response]]]
WrapupOf = Callable[[str], int]
"""Queue name → its after-call seconds (routing.toml ``wrapup_s``)."""


def _now_ms() -> int:
    return int(time.time() * 1000)


def _iso_ms(text: object) -> int | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return int(when.timestamp() * 1000) if when.tzinfo is not None else None


def _trail(raw: object) -> list[tuple[int, int]]:
    """A walk as the page sends it: ``[[step, option], ...]`` (ValueError otherwise)."""
    if not isinstance(raw, list):
        raise ValueError("el recorrido debe ser una lista")
    out = []
    for move in raw:
        if not isinstance(move, list | tuple) or len(move) != 2:
            raise ValueError("cada paso del recorrido es [paso, opción]")
        out.append((int(move[0]), int(move[1])))
    return out


def _generic(raw: object) -> str:
    code = str(raw or "")
    if code and code not in GENERIC_OUTCOMES:
        raise ValueError(f"resultado genérico desconocido: {code}")
    return code


class WorkItemStore:
    """The ``work_items`` table of one PBX."""

    def __init__(self, engine: AsyncEngine, pbx_id: str, wrapup: WrapupOf | None = None) -> None:
        self.engine = engine
        self.pbx_id = pbx_id
        self._wrapup = wrapup

    def _key(self, call_id: str, agent: str) -> sa.ColumnElement[bool]:
        c = work_items.c
        return sa.and_(c.pbx_id == self.pbx_id, c.call_uniqueid == call_id, c.agent == agent)

    def _wrapup_of(self, queue: str) -> int:
        if self._wrapup is None or not queue:
            return 0
        try:
            return max(int(self._wrapup(queue)), 0)
        except (KeyError, ValueError):
            return 0

    async def open_call(self, pop: Mapping[str, Any]) -> None:
        """Open the work item of a pop (idempotent per call and agent)."""
        async with self.engine.begin() as conn:
            await self._ensure(conn, pop)

    async def _ensure(self, conn: AsyncConnection, pop: Mapping[str, Any]) -> None:
        """Insert the item if absent; a later pop of the same call (the campaign's, with
        its customer and script) refreshes an open item."""
        now = _now_ms()
        body = msgspec.json.encode(pop).decode()
        fields = {
            "service": str(pop.get("service") or ""),
            "queue": str(pop.get("queue") or ""),
            "caller_num": str(pop.get("caller_num") or ""),
            "script_id": str(pop.get("script_id") or ""),
            "script_version": int(pop.get("script_version") or 0),
            "pop": body,
        }
        call_id, agent, queue = str(pop["call_id"]), str(pop["agent"]), str(pop.get("queue") or "")
        row: dict[str, Any] = {
            "pbx_id": self.pbx_id,
            "call_uniqueid": call_id,
            "agent": agent,
            **fields,
            "trail": "[]",
            "generic_outcome": "",
            "note": "",
            "state": OPEN,
            "wrapup_s": self._wrapup_of(queue),
            "created_at_ms": now,
            "updated_at_ms": now,
        }
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(work_items).values(**row)
        result = await conn.execute(
            insert.on_conflict_do_nothing(index_elements=["pbx_id", "call_uniqueid", "agent"])
        )
        if result.rowcount:
            return
        key = self._key(call_id, agent)
        found = (
            await conn.execute(sa.select(work_items.c.pop, work_items.c.script_id).where(key))
        ).first()
        if found is None or found.pop == body:
            return
        changes: dict[str, Any] = {**fields, "updated_at_ms": now}
        if found.script_id != fields["script_id"]:
            changes["trail"] = "[]"
        await conn.execute(
            sa.update(work_items).where(key, work_items.c.state == OPEN).values(**changes)
        )

    async def save_draft(
        self, call_id: str, agent: str, trail: list[tuple[int, int]], note: str, generic: str
    ) -> bool:
        """Keep the agent's walk and note of an open item; False when none is open."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                sa.update(work_items)
                .where(self._key(call_id, agent), work_items.c.state == OPEN)
                .values(
                    trail=msgspec.json.encode(trail).decode(),
                    note=note[:MAX_NOTE],
                    generic_outcome=generic,
                    updated_at_ms=_now_ms(),
                )
            )
        return bool(result.rowcount)

    async def call_ended(self, call_id: str, at_ms: int) -> None:
        """Note the end of a call on its items (every agent's)."""
        c = work_items.c
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(work_items)
                .where(
                    c.pbx_id == self.pbx_id,
                    c.call_uniqueid == call_id,
                    c.call_ended_at_ms.is_(None),
                )
                .values(call_ended_at_ms=at_ms)
            )

    async def agent_done(self, call_id: str, agent: str, at_ms: int) -> None:
        """Note the end of one agent's part (they transferred the call) on their item."""
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(work_items)
                .where(self._key(call_id, agent), work_items.c.call_ended_at_ms.is_(None))
                .values(call_ended_at_ms=at_ms)
            )

    async def get(self, call_id: str, agent: str) -> Any:
        """The item of a call and agent (a row), or None."""
        async with self.engine.connect() as conn:
            return (
                await conn.execute(sa.select(work_items).where(self._key(call_id, agent)))
            ).first()

    async def latest_of_call(self, call_id: str) -> Any:
        """The newest item of a call, whoever's (a row), or None."""
        c = work_items.c
        async with self.engine.connect() as conn:
            return (
                await conn.execute(
                    sa.select(work_items)
                    .where(c.pbx_id == self.pbx_id, c.call_uniqueid == call_id)
                    .order_by(c.created_at_ms.desc(), c.id.desc())
                    .limit(1)
                )
            ).first()

    async def open_items(self, agent: str) -> list[dict[str, Any]]:
        """An agent's open items, oldest first, with the calls' ends the listener stored."""
        c = work_items.c
        query = (
            sa.select(work_items)
            .where(c.pbx_id == self.pbx_id, c.agent == agent, c.state == OPEN)
            .order_by(c.created_at_ms, c.id)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        missing = [r.call_uniqueid for r in rows if r.call_ended_at_ms is None]
        ended = await self._ended_in_calls(missing) if missing else {}
        for call_id, at_ms in ended.items():
            await self.call_ended(call_id, at_ms)
        return [view(r, ended.get(r.call_uniqueid)) for r in rows]

    async def _ended_in_calls(self, call_ids: list[str]) -> dict[str, int]:
        """Ends of calls in the listener's ``calls`` table (a call that ended while the
        daemon was down, or before the item's end event was seen)."""
        query = sa.select(calls.c.uniqueid, calls.c.ended_at_ms).where(
            calls.c.pbx_id == self.pbx_id,
            calls.c.uniqueid.in_(call_ids),
            calls.c.ended_at_ms.is_not(None),
        )
        try:
            async with self.engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        except DBAPIError as exc:  # a console-only database (tests): no calls table
            log.debug("work_items_calls_unavailable", reason=type(exc).__name__)
            return {}
        return {str(r.uniqueid): int(r.ended_at_ms) for r in rows}

    async def after_call_until(self, agent: str) -> int | None:
        """When the after-call time of the agent's last ended call ends (epoch ms)."""
        c = work_items.c
        query = (
            sa.select(c.call_ended_at_ms, c.wrapup_s)
            .where(c.pbx_id == self.pbx_id, c.agent == agent, c.call_ended_at_ms.is_not(None))
            .order_by(c.call_ended_at_ms.desc())
            .limit(1)
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return int(row.call_ended_at_ms) + int(row.wrapup_s) * 1000

    async def record(
        self, item: Interaction, pop: Mapping[str, Any], generic: str
    ) -> tuple[Interaction, bool]:
        """Record the item's interaction once: ``(interaction, True)`` the first time,
        ``(the stored one, False)`` on a repeat (a double click, a retry)."""
        key = self._key(item.call_id, item.agent)
        async with self.engine.begin() as conn:
            await self._ensure(conn, pop)  # a write first: SQLite takes its lock here
            closed = await conn.execute(
                sa.update(work_items)
                .where(key, work_items.c.state == OPEN)
                .values(
                    state=RECORDED,
                    trail=msgspec.json.encode(item.trail).decode(),
                    note=item.note,
                    generic_outcome=generic,
                    recorded_at_ms=item.recorded_at_ms,
                    updated_at_ms=item.recorded_at_ms,
                )
            )
            if closed.rowcount:
                new_id = await append_in(conn, item, pop)
                await conn.execute(sa.update(work_items).where(key).values(interaction_id=new_id))
                return item, True
            stored = (
                await conn.execute(
                    sa.select(interactions)
                    .select_from(
                        work_items.join(
                            interactions, interactions.c.id == work_items.c.interaction_id
                        )
                    )
                    .where(key)
                )
            ).first()
        if stored is None:
            raise InteractionError("la llamada ya se registró")
        return _interaction(stored), False

    async def history(
        self, caller_num: str, exclude_call: str = "", limit: int = HISTORY_LIMIT
    ) -> list[dict[str, Any]]:
        """The last interactions recorded for calls from this number, newest first."""
        if not caller_num:
            return []
        w, i = work_items.c, interactions.c
        query = (
            sa.select(
                i.recorded_at_ms,
                i.service,
                i.outcome_code,
                i.outcome_label,
                i.note,
                i.agent,
                i.call_uniqueid,
                w.pop,
            )
            .select_from(work_items.join(interactions, i.id == w.interaction_id))
            .where(w.pbx_id == self.pbx_id, w.caller_num == caller_num)
            .where(w.call_uniqueid != exclude_call)
            .order_by(i.recorded_at_ms.desc(), i.id.desc())
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        out = []
        for r in rows:
            pop = msgspec.json.decode(r.pop)
            out.append(
                {
                    "recorded_at_ms": int(r.recorded_at_ms),
                    "service": r.service,
                    "service_name": str(pop.get("service_name") or r.service),
                    "outcome_code": r.outcome_code,
                    "outcome_label": r.outcome_label,
                    "note": r.note,
                    "agent": r.agent,
                    "call_id": r.call_uniqueid,
                }
            )
        return out

    async def has_caller(self, agent: str, caller_num: str) -> bool:
        """Whether the agent had a call from this number (may see its history)."""
        c = work_items.c
        query = (
            sa.select(c.id)
            .where(c.pbx_id == self.pbx_id, c.agent == agent, c.caller_num == caller_num)
            .limit(1)
        )
        async with self.engine.connect() as conn:
            return (await conn.execute(query)).first() is not None


def view(row: Any, ended_ms: int | None = None) -> dict[str, Any]:
    """A work item as the page reads it."""
    return {
        "call_id": row.call_uniqueid,
        "agent": row.agent,
        "state": row.state,
        "pop": msgspec.json.decode(row.pop),
        "trail": msgspec.json.decode(row.trail),
        "generic": row.generic_outcome,
        "note": row.note,
        "wrapup_s": row.wrapup_s,
        "created_at_ms": row.created_at_ms,
        "call_ended_at_ms": row.call_ended_at_ms if ended_ms is None else ended_ms,
    }


def _interaction(row: Any) -> Interaction:
    return Interaction(
        id=int(row.id),
        pbx=row.pbx_id,
        call_id=row.call_uniqueid,
        agent=row.agent,
        user=row.user_name,
        service=row.service,
        script_id=row.script_id,
        script_version=int(row.script_version),
        trail=[(int(s), int(o)) for s, o in msgspec.json.decode(row.trail)],
        outcome_code=row.outcome_code,
        outcome_label=row.outcome_label,
        note=row.note,
        recorded_at_ms=int(row.recorded_at_ms),
    )


class WorkItems:
    """The console's side of work items: routes, the recording, the bus follower."""

    def __init__(
        self,
        pbx_id: str,
        engine: AsyncEngine,
        publisher: ScreenPopPublisher,
        may_see: Callable[[User, str], bool],
        wrapup: WrapupOf | None = None,
        *,
        after_call: AfterCallPause | None = None,
    ) -> None:
        self.pbx_id = pbx_id
        self.after_call = after_call
        self.publisher = publisher
        self.bus: LocalBus = publisher.bus
        self.may_see = may_see
        self.store = WorkItemStore(engine, pbx_id, wrapup)

    # ----------------------------------------------------------------- bus
    async def follow(self) -> None:
        """Open the items of the pops and note the calls' ends, until cancelled."""
        async with self.bus.listen() as queue:
            while True:
                await self.take(await queue.get())

    async def take(self, item: Delivery) -> None:
        """One bus message: a pop opens an item, a call's end is noted on its items."""
        try:
            if item.kind == "screenpop":
                await self.store.open_call(msgspec.json.decode(item.body))
            elif item.kind == "call":
                event = msgspec.json.decode(item.body)
                at_ms = _iso_ms(event.get("at"))
                if event.get("event") == "ended" and at_ms is not None:
                    await self.store.call_ended(str(event["call_id"]), at_ms)
                    await self._after_call(str(event["call_id"]))
                elif event.get("event") == "transferred" and at_ms is not None:
                    agent = str(event.get("agent", ""))
                    await self.store.agent_done(str(event["call_id"]), agent, at_ms)
                    await self._after_call(str(event["call_id"]), agent)
        except Exception as exc:  # a database hiccup must not stop the follower
            log.error("work_item_update_failed", kind=item.kind, reason=repr(exc))

    async def _after_call(self, call_id: str, agent: str | None = None) -> None:
        """Pause the agent whose call ended (``agent``: whose part of it ended) until they
        record it (aftercall.py)."""
        delivered = self.bus.pop_for_call(call_id, agent) if self.after_call else None
        if self.after_call is None or delivered is None:
            return
        pop = msgspec.json.decode(delivered.body)
        item = await self.store.get(call_id, str(pop.get("agent", "")))
        if item is None or item.state != OPEN:
            return  # recorded during the call: no after-call work left
        await self.after_call.ended(
            str(pop.get("agent_interface", "")), str(pop.get("queue", "")), call_id
        )

    def frame(self, item: Delivery, wanted: str) -> bytes | None:
        """The event-stream frame of a bus message for a console watching ``wanted``
        (``""``: every agent): its pops, and the end of its calls (``event: fin``)."""
        if item.kind == "screenpop":
            if wanted and item.agent != wanted:
                return None
            return b"event: screenpop\ndata: " + item.body + b"\n\n"
        if item.kind != "call":
            return None
        if b'"event":"transferred"' in item.body:
            # the end of one agent's part: to that agent's console only
            event = msgspec.json.decode(item.body)
            if not wanted or event.get("agent") != wanted:
                return None
            return b"event: fin\ndata: " + item.body + b"\n\n"
        if b'"event":"ended"' not in item.body:
            return None
        event = msgspec.json.decode(item.body)
        pop = self.bus.pop_for_call(str(event.get("call_id", "")))
        if pop is None or (wanted and pop.agent != wanted):
            return None
        return b"event: fin\ndata: " + item.body + b"\n\n"

    # ----------------------------------------------------------------- routes
    def routes(self, api: Api) -> list[Route]:
        """``/api/trabajos`` (list, draft, record) and ``/api/historial``."""
        return [
            Route("/api/trabajos", api(self.list_items), methods=["GET"]),
            Route("/api/trabajos/{call_id}", api(self.save_draft), methods=["PUT"]),
            Route("/api/trabajos/{call_id}/registrar", api(self.record_path), methods=["POST"]),
            Route("/api/historial", api(self.history), methods=["GET"]),
        ]

    async def list_items(self, request: Request, user: User) -> Response:
        """The agent's open work items and when its after-call time ends."""
        agent = request.query_params.get("agent") or user.agent
        if not agent or not self.may_see(user, agent):
            return JSONResponse({"error": "prohibido"}, 403)
        return JSONResponse(
            {
                "now_ms": _now_ms(),
                "items": await self.store.open_items(agent),
                "after_call_until_ms": await self.store.after_call_until(agent),
            }
        )

    async def save_draft(self, request: Request, user: User) -> Response:
        """PUT the agent's walk and note of one call (the page sends them as it goes)."""
        if request.headers.get("x-centralita") != "1":
            return JSONResponse({"error": "cabecera X-Centralita ausente"}, 403)
        if not user.agent:
            return JSONResponse({"error": "solo un agente guarda su trabajo"}, 403)
        call_id = request.path_params["call_id"]
        try:
            body = msgspec.json.decode(await request.body(), type=dict[str, Any])
            trail = _trail(body.get("trail", []))
            generic = _generic(body.get("generic"))
            note = str(body.get("note", ""))
        except (msgspec.DecodeError, TypeError, ValueError) as exc:
            return JSONResponse({"error": f"solicitud inválida: {exc}"}, 400)
        if await self.store.get(call_id, user.agent) is None:
            pop = self.bus.pop_for_call(call_id)
            if pop is None or pop.agent != user.agent:
                return JSONResponse({"error": "llamada desconocida para este agente"}, 404)
            await self.store.open_call(msgspec.json.decode(pop.body))
        if not await self.store.save_draft(call_id, user.agent, trail, note, generic):
            return JSONResponse({"error": "la llamada ya se registró"}, 409)
        return JSONResponse({"guardado": True})

    async def history(self, request: Request, user: User) -> Response:
        """The last interactions of a caller number (an agent: of its own callers)."""
        number = request.query_params.get("numero", "")
        exclude = request.query_params.get("excluir", "")
        if user.role != "supervisor" and not (
            user.agent and number and await self.store.has_caller(user.agent, number)
        ):
            return JSONResponse({"error": "prohibido"}, 403)
        return JSONResponse(await self.store.history(number, exclude))

    async def record_path(self, request: Request, user: User) -> Response:
        """POST /api/trabajos/{call_id}/registrar."""
        return await self._record(request, user, request.path_params["call_id"])

    async def record(self, request: Request, user: User) -> Response:
        """POST /api/interacciones (``call_id`` in the body)."""
        return await self._record(request, user, None)

    async def _pop_of(self, call_id: str, user: User) -> dict[str, Any] | None:
        """The pop of a call this user may record: its work item's, else the bus's."""
        if user.agent:
            row = await self.store.get(call_id, user.agent)
            if row is not None:
                found: dict[str, Any] = msgspec.json.decode(row.pop)
                return found
        item = self.bus.pop_for_call(call_id)
        if item is not None and self.may_see(user, item.agent):
            return dict(msgspec.json.decode(item.body))
        if user.role == "supervisor":
            row = await self.store.latest_of_call(call_id)
            if row is not None:
                return dict(msgspec.json.decode(row.pop))
        return None

    async def _record(self, request: Request, user: User, call_id: str | None) -> Response:
        try:
            body = msgspec.json.decode(await request.body(), type=dict[str, Any])
            call_id = call_id or str(body["call_id"])
            trail = _trail(body.get("trail", []))
            generic = _generic(body.get("generic"))
        except (msgspec.DecodeError, KeyError, TypeError, ValueError) as exc:
            return JSONResponse({"error": f"solicitud inválida: {exc}"}, 400)
        pop = await self._pop_of(call_id, user)
        if pop is None:
            return JSONResponse({"error": "llamada desconocida para este agente"}, 404)
        script_id = str(pop.get("script_id") or "")
        asked = str(body.get("script_id") or "")
        if asked and asked != script_id:
            return JSONResponse(
                {
                    "error": f"el guion {asked} no es el del servicio de la llamada "
                    f"({pop.get('service', '')}); use el guion {script_id or 'ninguno'}"
                },
                422,
            )
        try:
            interaction = build(
                pbx=self.pbx_id,
                call_id=call_id,
                agent=str(pop["agent"]),
                user=user.name,
                service=str(pop.get("service", "")),
                script_id=script_id,
                script_version=int(body.get("script_version") or pop.get("script_version") or 0),
                trail=trail,
                note=str(body.get("note", "")),
                generic=generic,
            )
            stored, created = await self.store.record(interaction, pop, generic)
        except InteractionError as exc:
            return JSONResponse({"error": str(exc)}, 422)
        encoded = msgspec.json.encode(stored)
        if self.after_call is not None:
            await self.after_call.recorded(str(pop.get("agent_interface", "")), call_id)
        if not created:
            log.info("interaction_repeated", uniqueid=call_id, agent=stored.agent)
            return Response(encoded, 200, media_type="application/json")
        self.publisher.publish_interaction(encoded)
        log.info(
            "interaction_recorded",
            uniqueid=call_id,
            agent=stored.agent,
            outcome=stored.outcome_code,
            caller=mask(str(pop.get("caller_num") or "")),
        )
        return Response(encoded, 201, media_type="application/json")
