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
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

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

from ami_listener.publisher import Delivery, LocalBus, ScreenPopPublisher
from console.exceptions import AuthenticationError, InteractionError
from console.interactions import InteractionStore, build
from console.live import LiveState
from console.sessions import COOKIE, SessionSigner
from console.users import User, UserDirectory
from scripts import Move, ScriptError, load_script, replay

log = structlog.get_logger(__name__)
HERE = Path(__file__).parent
KEEPALIVE_S = 15.0
Handler = Callable[[Request], Awaitable[Response]]


def _template(name: str) -> string.Template:
    return string.Template((HERE / "templates" / name).read_text(encoding="utf-8"))


def _walk_view(script_id: str, trail: list[tuple[int, int]]) -> dict[str, Any]:
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
) -> Starlette:
    """The console ASGI app: mount it at ``/`` of the daemon's HTTP server."""
    bus: LocalBus = publisher.bus
    signer = SessionSigner(session_key)
    store = InteractionStore(engine)
    pages = {n: _template(f"{n}.html") for n in ("login", "agent", "wallboard", "denied")}

    def current(request: Request) -> User | None:
        name = signer.check(request.cookies.get(COOKIE, ""))
        return users.get(name) if name else None

    def page(name: str, status: int = 200, **values: str) -> HTMLResponse:
        safe = {k: html.escape(v) for k, v in values.items()}
        return HTMLResponse(pages[name].safe_substitute(safe), status_code=status)

    def api(handler: Callable[[Request, User], Awaitable[Response]]) -> Handler:
        async def wrapped(request: Request) -> Response:
            user = current(request)
            if user is None:
                return JSONResponse({"error": "no autenticado"}, status_code=401)
            if request.method == "POST" and request.headers.get("x-centralita") != "1":
                return JSONResponse({"error": "cabecera X-Centralita ausente"}, 403)
            return await handler(request, user)

        return wrapped

    def may_see(user: User, agent: str) -> bool:
        return user.role == "supervisor" or (bool(user.agent) and user.agent == agent)

    # ------------------------------------------------------------------ pages
    async def home(request: Request) -> Response:
        user = current(request)
        if user is None:
            return RedirectResponse("/ingresar", 303)
        return RedirectResponse("/muro" if user.role == "supervisor" else "/consola", 303)

    async def login_page(request: Request) -> Response:
        return page("login", error="")

    async def login(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        name = form.get("usuario", [""])[0].strip()
        password = form.get("clave", [""])[0]
        try:
            user = await asyncio.to_thread(users.authenticate, name, password)
        except AuthenticationError as exc:
            log.info("console_login_rejected", user=name)
            return page("login", 401, error=str(exc))
        log.info("console_login_accepted", user=user.name, role=user.role)
        response = RedirectResponse("/", 303)
        response.set_cookie(
            COOKIE,
            signer.issue(user.name),
            max_age=signer.max_age_s,
            httponly=True,
            samesite="strict",
            secure=secure_cookies,
        )
        return response

    async def logout(_request: Request) -> Response:
        response = RedirectResponse("/ingresar", 303)
        response.delete_cookie(COOKIE)
        return response

    async def agent_page(request: Request) -> Response:
        user = current(request)
        if user is None:
            return RedirectResponse("/ingresar", 303)
        return page("agent", user=user.name, agent=user.agent, role=user.role)

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
            async with bus.listen() as queue:
                yield b": conectado\n\n"
                while True:
                    try:
                        item = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                    except TimeoutError:
                        yield b": ping\n\n"
                        continue
                    if item.kind != "screenpop" or (wanted and item.agent != wanted):
                        continue
                    yield b"event: screenpop\ndata: " + item.body + b"\n\n"

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def step(request: Request, _user: User) -> Response:
        try:
            body = msgspec.json.decode(await request.body(), type=dict[str, Any])
            trail = [(int(s), int(o)) for s, o in body.get("trail", [])]
            return JSONResponse(_walk_view(str(body["script_id"]), trail))
        except (msgspec.DecodeError, KeyError, TypeError, ValueError, ScriptError) as exc:
            return JSONResponse({"error": f"recorrido inválido: {exc}"}, 400)

    async def record(request: Request, user: User) -> Response:
        try:
            body = msgspec.json.decode(await request.body(), type=dict[str, Any])
            call_id = str(body["call_id"])
            trail = [(int(s), int(o)) for s, o in body.get("trail", [])]
        except (msgspec.DecodeError, KeyError, TypeError, ValueError) as exc:
            return JSONResponse({"error": f"solicitud inválida: {exc}"}, 400)
        item = bus.pop_for_call(call_id)
        if item is None or not may_see(user, item.agent):
            return JSONResponse({"error": "llamada desconocida para este agente"}, 404)
        pop = msgspec.json.decode(item.body, type=dict[str, Any])
        try:
            interaction = build(
                pbx=pbx_id,
                call_id=call_id,
                agent=item.agent,
                user=user.name,
                service=str(pop.get("service", "")),
                script_id=str(body.get("script_id") or pop.get("script_id") or ""),
                script_version=int(body.get("script_version") or pop.get("script_version") or 0),
                trail=trail,
                note=str(body.get("note", "")),
            )
        except InteractionError as exc:
            return JSONResponse({"error": str(exc)}, 422)
        await store.append(interaction)
        encoded = msgspec.json.encode(interaction)
        publisher.publish_interaction(encoded)
        log.info(
            "interaction_recorded",
            uniqueid=call_id,
            agent=item.agent,
            outcome=interaction.outcome_code,
        )
        return Response(encoded, 201, media_type="application/json")

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
        Route("/api/muro", api(wallboard)),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ]
    return Starlette(routes=routes)
