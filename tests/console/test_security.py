"""Console sessions and security (issue #12, item 5), through the console's HTTP API.

Server-side sessions (logout, password change, expiry), the sign-in limit, the
Origin/Referer check on every state-changing request, the security headers, and the
interactions API refusing another service's script. Store behaviour on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.store import make_engine
from centralita.cli import main as cli_main
from centralita.console.app import HERE, create_app
from centralita.console.live import LiveState
from centralita.console.schema import metadata as console_metadata
from centralita.console.security import NOTICES
from centralita.console.sessions import COOKIE, console_sessions
from centralita.console.users import User, hash_password, load_users, save_user
from centralita.routing import default_routing_path, load_routing
from centralita.screenpop.publisher import ScreenPopPublisher
from centralita.screenpop.resolvers import service_resolver
from centralita.scripts import load_script, start
from tests.console.ami_calls import Call
from tests.console.helpers import PASSWORD, Console, console

BASE = "http://console"
SAME_SITE = {"Origin": BASE}
API = {"X-Centralita": "1"}
ANA_CALL = Call("1795950000.1", "101", "70111222", agent=1)


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(db_url)
    async with eng.begin() as conn:
        await conn.run_sync(console_metadata.create_all)
    yield eng
    await eng.dispose()


@pytest.fixture
async def cons(engine: AsyncEngine) -> AsyncIterator[Console]:
    async with console(engine) as c:
        yield c


def client_of(app: object, **kwargs: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url=BASE, **kwargs)  # type: ignore[arg-type]


async def sign_in(client: httpx.AsyncClient, name: str, password: str = PASSWORD) -> str:
    reply = await client.post("/ingresar", data={"usuario": name, "clave": password})
    assert reply.status_code == 303, reply.text
    return str(client.cookies[COOKIE])


async def session_rows(engine: AsyncEngine) -> list[dict[str, object]]:
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(console_sessions))).mappings().all()
    return [dict(r) for r in rows]


# ------------------------------------------------------------------ sessions


async def test_logout_ends_the_session_a_copied_cookie_gets_401(
    cons: Console, engine: AsyncEngine
) -> None:
    async with client_of(cons.app) as client, client_of(cons.app) as thief:
        cookie = await sign_in(client, "ana")
        thief.cookies.set(COOKIE, cookie)
        assert (await thief.get("/api/yo")).json()["name"] == "ana"

        out = await client.post("/salir", headers=SAME_SITE)
        assert out.status_code == 303
        assert out.headers["location"] == "/ingresar?motivo=cerrada"

        refused = await thief.get("/api/yo")
        assert refused.status_code == 401
        assert refused.json() == {"error": "no autenticado", "motivo": "salida"}
        assert (await thief.get("/consola")).headers["location"] == "/ingresar"
    rows = await session_rows(engine)
    assert len(rows) == 1
    assert rows[0]["user_name"] == "ana"
    assert rows[0]["revoked_reason"] == "salida"
    assert rows[0]["revoked_at_ms"] is not None
    assert rows[0]["id"] != cookie.split(".")[0]  # the table holds a digest, not the id


async def test_expired_session_is_refused(cons: Console, engine: AsyncEngine) -> None:
    async with client_of(cons.app) as client:
        await sign_in(client, "ana")
        assert (await client.get("/api/yo")).status_code == 200
        async with engine.begin() as conn:
            await conn.execute(console_sessions.update().values(expires_at_ms=1))
        refused = await client.get("/api/yo")
        assert refused.status_code == 401
        assert refused.json()["motivo"] == "expirada"


async def test_forged_or_unknown_session_ids_are_refused(cons: Console) -> None:
    async with client_of(cons.app) as client:
        cookie = await sign_in(client, "ana")
        session_id, _, mac = cookie.rpartition(".")
        for forged in (f"{session_id}x.{mac}", f"{session_id}.{mac[:-2]}AA", "x.y", ""):
            client.cookies.set(COOKIE, forged)
            reply = await client.get("/api/yo")
            assert reply.status_code == 401, forged
            assert reply.json()["motivo"] == "sin_sesion"


def _app_with_users_file(engine: AsyncEngine, path: Path) -> object:
    routing = load_routing(default_routing_path())
    publisher = ScreenPopPublisher("lab", None, 1883, services=service_resolver(routing))
    live = LiveState("lab", measured=[], service_names={})
    return create_app("lab", engine, publisher, live, load_users(path))


async def test_password_change_ends_every_session_of_that_user(
    engine: AsyncEngine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    users_file = tmp_path / "users.toml"
    for name in ("ana", "beto"):
        iface = "Local/agent1@lab-agents" if name == "ana" else "Local/agent2@lab-agents"
        save_user(users_file, User(name=name, interface=iface, password=hash_password(PASSWORD)))
    app = _app_with_users_file(engine, users_file)
    async with client_of(app) as desk, client_of(app) as laptop, client_of(app) as other:
        await sign_in(desk, "ana")
        await sign_in(laptop, "ana")
        await sign_in(other, "beto")

        monkeypatch.setenv("CENTRALITA_CONSOLE_PASSWORD", "otra-clave-nueva")
        code = await asyncio.to_thread(
            cli_main,
            [
                "console",
                "users",
                "add",
                "ana",
                "--interface",
                "Local/agent1@lab-agents",
                "--file",
                str(users_file),
                "--db",
                db_url,
            ],
        )
        assert code == 0

        for client in (desk, laptop):
            reply = await client.get("/api/yo")
            assert reply.status_code == 401
            assert reply.json()["motivo"] == "clave"
        assert (await other.get("/api/yo")).json()["name"] == "beto"  # others untouched
        # The running console read the new password: the old one no longer opens it.
        old = await desk.post("/ingresar", data={"usuario": "ana", "clave": PASSWORD})
        assert old.status_code == 401
        await sign_in(desk, "ana", "otra-clave-nueva")
        assert (await desk.get("/api/yo")).json()["name"] == "ana"
    reasons = sorted(
        (r["user_name"], r["revoked_reason"] or "") for r in await session_rows(engine)
    )
    assert reasons == [("ana", ""), ("ana", "clave"), ("ana", "clave"), ("beto", "")]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_password_change_without_the_database_still_ends_the_sessions(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI could not mark the rows: the console refuses the old password's sessions."""
    users_file = tmp_path / "users.toml"
    save_user(users_file, User(name="sofia", role="supervisor", password=hash_password(PASSWORD)))
    app = _app_with_users_file(engine, users_file)
    async with client_of(app) as client:
        await sign_in(client, "sofia")
        monkeypatch.delenv("CENTRALITA_DB_URL", raising=False)
        monkeypatch.setenv("CENTRALITA_CONSOLE_PASSWORD", "otra-clave-nueva")
        code = await asyncio.to_thread(
            cli_main,
            ["console", "users", "add", "sofia", "--role", "supervisor", "--file", str(users_file)],
        )
        assert code == 0
        reply = await client.get("/api/muro")
        assert reply.status_code == 401
        assert reply.json()["motivo"] == "clave"


async def test_sign_in_page_says_why_the_session_ended(cons: Console) -> None:
    async with client_of(cons.app) as client:
        for reason in ("expirada", "salida", "clave", "cerrada"):
            page = await client.get(f"/ingresar?motivo={reason}")
            assert page.status_code == 200
            assert NOTICES[reason] in page.text
        unknown = await client.get("/ingresar?motivo=<script>alert(1)</script>")
        assert "<script>alert" not in unknown.text
        assert "$notice" not in unknown.text
        bad = await client.post("/ingresar", data={"usuario": "ana", "clave": "mala-clave"})
        assert "$notice" not in bad.text


# ------------------------------------------------------------------ sign-in limit


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_ten_wrong_passwords_then_429_even_with_the_right_one(cons: Console) -> None:
    async with client_of(cons.app) as client:
        for _ in range(10):
            wrong = await client.post("/ingresar", data={"usuario": "beto", "clave": "adivina"})
            assert wrong.status_code == 401
        right = await client.post("/ingresar", data={"usuario": "beto", "clave": PASSWORD})
        assert right.status_code == 429
        assert int(right.headers["retry-after"]) >= 1
        assert "demasiados intentos" in right.text
        assert COOKIE not in client.cookies
        # Another user from the same address is not locked by beto's count.
        await sign_in(client, "ana")


# ------------------------------------------------------------------ origin


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_cross_site_posts_to_login_and_logout_are_refused(cons: Console) -> None:
    evil = {"Origin": "https://evil.example"}
    async with client_of(cons.app) as client:
        login = await client.post(
            "/ingresar", data={"usuario": "ana", "clave": PASSWORD}, headers=evil
        )
        assert login.status_code == 403
        assert COOKIE not in client.cookies
        by_referer = await client.post(
            "/ingresar",
            data={"usuario": "ana", "clave": PASSWORD},
            headers={"Referer": "https://evil.example/login-csrf.html"},
        )
        assert by_referer.status_code == 403
        sandboxed = await client.post(
            "/ingresar", data={"usuario": "ana", "clave": PASSWORD}, headers={"Origin": "null"}
        )
        assert sandboxed.status_code == 403

        await sign_in(client, "ana")
        assert (await client.post("/salir", headers=evil)).status_code == 403
        assert (await client.get("/api/yo")).status_code == 200  # still signed in
        other_port = {"Origin": "http://console:8081"}
        api_post = await client.post("/api/paso", json={}, headers={**API, **other_port})
        assert api_post.status_code == 403

        same = await client.post(
            "/salir", headers={"Referer": f"{BASE}/consola"}
        )  # a browser that sent only Referer
        assert same.status_code == 303
        assert (await client.get("/api/yo")).status_code == 401


# ------------------------------------------------------------------ headers


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_security_headers_on_every_response(cons: Console) -> None:
    async with client_of(cons.app) as client:
        replies = [
            await client.get("/ingresar"),
            await client.get("/api/yo"),  # 401
            await client.get("/static/agent.js"),
            await client.get("/no-existe"),  # 404
            await client.post("/salir", headers={"Origin": "https://evil.example"}),  # 403
            await client.post("/ingresar", data={"usuario": "x", "clave": "y"}),  # 401 page
        ]
        await sign_in(client, "ana")
        replies.append(await client.get("/consola"))
    for reply in replies:
        csp = reply.headers["content-security-policy"]
        directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
        assert directives["default-src"] == ["'self'"], reply.url
        assert directives["frame-ancestors"] == ["'none'"]
        assert directives["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
        assert directives["style-src"] == ["'self'"]
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert reply.headers["referrer-policy"] == "same-origin"
        assert reply.headers["x-frame-options"] == "DENY"


def test_templates_have_no_inline_script_or_style() -> None:
    """The CSP allows no inline code: every script and style comes from /static."""
    for template in sorted((HERE / "templates").glob("*.html")):
        text = template.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), template.name
        assert "<style" not in text, template.name
        assert not re.search(r"\sstyle\s*=", text), template.name
        assert not re.search(r"\son[a-z]+\s*=", text), template.name
        assert "javascript:" not in text, template.name
        scripts = re.findall(r'<script src="([^"]+)"', text)
        if scripts:  # a page with code sends a console that lost its session to sign in
            assert scripts[0] == "/static/session.js", template.name


# ------------------------------------------------------------------ interactions


def _trail(script_id: str) -> list[list[int]]:
    walk = start(load_script(script_id))
    while not walk.finished:
        walk = walk.choose(len(walk.options()) - 1)
    return [[m.step, m.option] for m in walk.trail]


async def test_interaction_with_another_services_script_is_refused(
    cons: Console, engine: AsyncEngine
) -> None:
    await cons.answer(ANA_CALL)  # a 101 call
    async with client_of(cons.app, headers=API) as client:
        await sign_in(client, "ana")
        script = load_script("104")
        reply = await client.post(
            "/api/interacciones",
            json={
                "call_id": ANA_CALL.uniqueid,
                "script_id": "104",
                "script_version": script.version,
                "trail": _trail("104"),
                "note": "guion ajeno",
            },
        )
        assert reply.status_code == 422
        assert "104" in reply.json()["error"]
    async with engine.connect() as conn:
        count = (
            await conn.execute(
                sa.select(sa.func.count()).select_from(console_metadata.tables["interactions"])
            )
        ).scalar_one()
    assert count == 0
