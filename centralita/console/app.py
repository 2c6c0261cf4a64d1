"""The agent console and the supervisor wallboard (Starlette), served by the daemon.

Agents sign in, receive their own pops live (Server-Sent Events from the publisher's
in-process bus), walk the service's script step by step and record the outcome. The
supervisor role sees every agent's pops and the wallboard. Pages are plain HTML, CSS and
vanilla JS from ``templates/`` and ``static/``; every piece of data is JSON.
"""

from __future__ import annotations

import asyncio
import html
import string
import zoneinfo
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from centralita.console.aftercall import AfterCallPause
from centralita.console.controls import CallControls, control_routes
from centralita.console.guide import SERVICE_GUIDES, guide_routes
from centralita.console.interactions import recent_mail
from centralita.console.live import LiveState
from centralita.console.security import ConsoleGuard
from centralita.console.streams import StreamFanout
from centralita.console.users import User, UserDirectory
from centralita.console.workitems import WorkItems, WrapupOf
from centralita.ivr.directory import GuideSearch, SqlCustomerDirectory
from centralita.screenpop.bus import Delivery, LocalBus
from centralita.screenpop.publisher import ScreenPopPublisher
from centralita.scripts import Move, ScriptError, load_script, replay, suggest

log = structlog.get_logger(__name__)
HERE = Path(__file__).parent
KEEPALIVE_S = 15.0
Handler = Callable[[Request], Awaitable[Response]]


def _template(name: str) -> string.Template:
    return string.Template((HERE / "templates" / name).read_text(encoding="utf-8"))


CENTER_TZ = zoneinfo.ZoneInfo("America/La_Paz")


def _call_time(text: object) -> datetime:
    """The call's answer time (the pop's ``answered_at``) in the center's time zone, or
    now when the page did not send a valid one."""
    if isinstance(text, str) and text:
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            when = None
        if when is not None and when.tzinfo is not None:
            return when.astimezone(CENTER_TZ)
    return datetime.now(CENTER_TZ)


def _walk_view(
    script_id: str, trail: list[tuple[int, int]], when: datetime | None = None
) -> dict[str, Any]:
    script = load_script(script_id)
    walk = replay(script, [Move(s, o) for s, o in trail])
    view: dict[str, Any] = {
        "script": {
            "id": script.id,
            "version": script.version,
            "title": script.title,
            "service": script.service,
        },
        "trail": [[m.step, m.option] for m in walk.trail],
        "finished": walk.finished,
    }
    if walk.outcome is not None:
        view["outcome"] = msgspec.to_builtins(walk.outcome)
        return view
    step = walk.step
    view["step"] = {
        "number": step.number,
        "label": step.label,
        "text": step.text,
        "actor": step.actor,
        "substeps": [msgspec.to_builtins(s) for s in step.substeps],
        "questions": list(step.questions),
        "systems": [msgspec.to_builtins(s) for s in step.systems],
        "handoffs": [msgspec.to_builtins(h) for h in step.handoffs],
        "note": step.note,
    }
    view["options"] = [{"index": o.index, "label": o.label} for o in walk.options()]
    # A branch bound to a time window (4639999: a damage from Friday noon to Sunday) is
    # suggested from the call's time; the agent still chooses.
    suggested = suggest(step, when or datetime.now(CENTER_TZ))
    view["suggested"] = None if suggested is None else suggested.index
    return view


def create_app(
    pbx_id: str,
    engine: AsyncEngine,
    publisher: ScreenPopPublisher,
    live: LiveState,
    users: UserDirectory,
    *,
    session_key: bytes | None = None,
    secure_cookies: bool = False,
    wrapup_s: WrapupOf | None = None,
    controls: CallControls | None = None,
    routing_path: str | None = None,
    campaign_rule: Any = None,
    guide: GuideSearch | None = None,
) -> Starlette:
    """The console ASGI app: mount it at ``/`` of the daemon's HTTP server (``guide``: the
    telephone guides' source, default the ``customers`` table)."""
    bus: LocalBus = publisher.bus
    guard = ConsoleGuard(engine, users, session_key, secure_cookies=secure_cookies)
    pages = {n: _template(f"{n}.html") for n in ("login", "agent", "wallboard", "denied")}

    def current(request: Request) -> User | None:
        return guard.user(request)  # the session the guard's middleware checked

    def page(name: str, status: int = 200, **values: str) -> HTMLResponse:
        safe = {k: html.escape(v) for k, v in values.items()}
        return HTMLResponse(pages[name].safe_substitute(safe), status_code=status)

    def api(handler: Callable[[Request, User], Awaitable[Response]]) -> Handler:
        async def wrapped(request: Request) -> Response:
            user = current(request)
            if user is None:
                return guard.unauthenticated(request)
            if request.method == "POST" and request.headers.get("x-centralita") != "1":
                return JSONResponse({"error": "cabecera X-Centralita ausente"}, 403)
            return await handler(request, user)

        return wrapped

    def may_see(user: User, agent: str) -> bool:
        return user.role == "supervisor" or (bool(user.agent) and user.agent == agent)

    controls = controls or CallControls()  # pause, transfers: console/controls.py
    after_call = None
    if controls.enabled and wrapup_s is not None:
        # after-call work: paused at the call's end until recorded, at most wrapup_s
        after_call = AfterCallPause(controls, wrapup_s)
    work = WorkItems(pbx_id, engine, publisher, may_see, wrapup_s, after_call=after_call)
    streams = StreamFanout(bus, work.frame)  # every event stream: one bus listener

    # ------------------------------------------------------------------ pages
    async def home(request: Request) -> Response:
        user = current(request)
        if user is None:
            return RedirectResponse("/ingresar", 303)
        return RedirectResponse("/muro" if user.role == "supervisor" else "/consola", 303)

    async def login_page(request: Request) -> Response:
        notice = guard.notice(request.query_params.get("motivo", ""))
        return page("login", error="", notice=notice)

    async def login(request: Request) -> Response:
        return await guard.login(
            request, lambda status, error: page("login", status, error=error, notice="")
        )

    async def logout(request: Request) -> Response:
        return await guard.logout(request)

    async def agent_page(request: Request) -> Response:
        user = current(request)
        if user is None:
            return RedirectResponse("/ingresar", 303)
        return page(
            "agent",
            user=user.name,
            agent=user.agent,
            role=user.role,
            guides=msgspec.json.encode(SERVICE_GUIDES).decode(),  # guide.js: service -> guide
        )

    async def wallboard_page(request: Request) -> Response:
        user = current(request)
        if user is None:
            return RedirectResponse("/ingresar", 303)
        if user.role != "supervisor":
            return page("denied", 403, user=user.name)
        return page("wallboard", user=user.name, pbx=pbx_id)

    # ------------------------------------------------------------------ API
    async def me(_request: Request, user: User) -> Response:
        return JSONResponse({"name": user.name, "role": user.role, "agent": user.agent})

    def _pop_json(item: Delivery) -> Any:
        return msgspec.json.decode(item.body)

    async def pops(request: Request, user: User) -> Response:
        wanted = request.query_params.get("agent") or user.agent
        if not may_see(user, wanted) and not (user.role == "supervisor" and not wanted):
            return JSONResponse({"error": "prohibido"}, 403)
        items = bus.recent_pops(wanted or None)
        return JSONResponse([_pop_json(i) for i in items])

    async def pop_one(request: Request, user: User) -> Response:
        item = bus.pop_for_call(request.path_params["call_id"])
        if item is None or not may_see(user, item.agent):
            return JSONResponse({"error": "no encontrado"}, 404)
        return JSONResponse(_pop_json(item))

    async def stream(request: Request, user: User) -> Response:
        wanted = request.query_params.get("agent") or user.agent
        if wanted and not may_see(user, wanted):
            return JSONResponse({"error": "prohibido"}, 403)
        if not wanted and user.role != "supervisor":
            return JSONResponse({"error": "prohibido"}, 403)

        async def events() -> AsyncIterator[bytes]:
            async with streams.listen(wanted) as frames:  # its pops and its calls' ends
                yield b": conectado\n\n"
                while True:
                    try:
                        async with asyncio.timeout(KEEPALIVE_S):
                            frame = await frames.get()
                    except TimeoutError:
                        yield b": ping\n\n"
                        continue
                    yield frame

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def step(request: Request, _user: User) -> Response:
        try:
            body = msgspec.json.decode(await request.body(), type=dict[str, Any])
            trail = [(int(s), int(o)) for s, o in body.get("trail", [])]
            when = _call_time(body.get("at"))
            return JSONResponse(_walk_view(str(body["script_id"]), trail, when))
        except (msgspec.DecodeError, KeyError, TypeError, ValueError, ScriptError) as exc:
            return JSONResponse({"error": f"recorrido inválido: {exc}"}, 400)

    async def record(request: Request, user: User) -> Response:
        return await work.record(request, user)  # once per call and agent: workitems.py

    async def mail(request: Request, user: User) -> Response:
        """The agent's recent e-mails of e-mail steps, each with its state."""
        wanted = request.query_params.get("agent") or user.agent
        if not may_see(user, wanted) and not (user.role == "supervisor" and not wanted):
            return JSONResponse({"error": "prohibido"}, 403)
        return JSONResponse(await recent_mail(engine, wanted or None))

    async def campaign_result(request: Request, user: User) -> Response:
        """Procedure K: the agent's result of the campaign call it is on (idempotent)."""
        from datetime import UTC, datetime

        from centralita.campaigns.console_api import record_result

        try:
            body = msgspec.json.decode(await request.body(), type=dict[str, Any])
            call_id = str(body["call_id"])
        except (msgspec.DecodeError, KeyError, TypeError, ValueError) as exc:
            return JSONResponse({"error": f"solicitud inválida: {exc}"}, 400)
        item = bus.pop_for_call(call_id)
        if item is None or not may_see(user, item.agent):
            return JSONResponse({"error": "llamada desconocida para este agente"}, 404)
        pop = msgspec.json.decode(item.body, type=dict[str, Any])
        answer = await record_result(engine, pop, body, user=user.name, at=datetime.now(UTC))
        return JSONResponse(answer.body, answer.status)

    async def wallboard(_request: Request, user: User) -> Response:
        if user.role != "supervisor":
            return JSONResponse({"error": "requiere rol de supervisión"}, 403)
        return JSONResponse(live.snapshot())

    routes = [
        Route("/", home),
        Route("/ingresar", login_page, methods=["GET"]),
        Route("/ingresar", login, methods=["POST"]),
        Route("/salir", logout, methods=["POST"]),
        Route("/consola", agent_page),
        Route("/muro", wallboard_page),
        Route("/api/yo", api(me)),
        Route("/api/pops", api(pops)),
        Route("/api/pops/stream", api(stream)),
        Route("/api/pops/{call_id}", api(pop_one)),
        Route("/api/paso", api(step), methods=["POST"]),
        Route("/api/interacciones", api(record), methods=["POST"]),
        Route("/api/campana/resultado", api(campaign_result), methods=["POST"]),
        Route("/api/correos", api(mail)),
        Route("/api/muro", api(wallboard)),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ]
    routes += control_routes(api, controls, bus=bus, users=users, engine=engine, may_see=may_see)
    routes += work.routes(api)  # work items, drafts, caller history: console/workitems.py
    routes += guide_routes(api, guide or SqlCustomerDirectory(engine))  # 104, 4200224: guide.py
    from centralita.console.supervisor_web import supervisor_routes  # reports, search, inbox

    routes += supervisor_routes(
        api,
        current,
        engine=engine,
        pbx_id=pbx_id,
        users=users,
        clock=lambda: live.clock(),  # noqa: PLW0108 (the demo swaps live.clock)
        routing_path=routing_path,
        campaign_rule=campaign_rule,
    )
    app = Starlette(routes=routes, middleware=guard.middleware())
    app.state.work_items = work  # the daemon runs work.follow() beside the server
    return app
