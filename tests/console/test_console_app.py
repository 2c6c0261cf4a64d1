"""Console HTTP API: sign-in, per-agent pops, supervisor-only wallboard, interactions."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.store import make_engine
from centralita.console.schema import interactions
from centralita.console.schema import metadata as console_metadata
from centralita.console.sessions import COOKIE, SessionSigner
from centralita.scripts import load_script, start
from tests.console.ami_calls import Call
from tests.console.helpers import Console, console, signed_in

ANA_CALL = Call("1795940000.1", "101", "70111222", agent=1)
BETO_CALL = Call("1795940000.2", "104", "70333444", agent=2)
HEADERS = {"X-Centralita": "1"}


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(db_url)
    async with eng.begin() as conn:  # the interactions table (migrations make it in production)
        await conn.run_sync(console_metadata.create_all)
    yield eng
    await eng.dispose()


@pytest.fixture
async def cons(engine: AsyncEngine) -> AsyncIterator[Console]:
    async with console(engine) as c:
        await c.answer(ANA_CALL)
        await c.answer(BETO_CALL)
        yield c


def full_trail(script_id: str) -> list[list[int]]:
    walk = start(load_script(script_id))
    while not walk.finished:
        walk = walk.choose(len(walk.options()) - 1)
    return [[m.step, m.option] for m in walk.trail]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_agent_reads_only_their_own_pops(cons: Console) -> None:
    async with signed_in(cons, "ana") as ana:
        mine = (await ana.get("/api/pops")).json()
        assert [p["call_id"] for p in mine] == [ANA_CALL.uniqueid]
        assert mine[0]["service_name"] == "Reclamos Técnicos"
        assert (await ana.get("/api/pops?agent=agent2")).status_code == 403
        assert (await ana.get(f"/api/pops/{BETO_CALL.uniqueid}")).status_code == 404
        assert (await ana.get(f"/api/pops/{ANA_CALL.uniqueid}")).status_code == 200
        assert (await ana.get("/api/pops/stream?agent=agent2")).status_code == 403
    async with signed_in(cons, "sofia") as sofia:
        theirs = (await sofia.get("/api/pops?agent=agent2")).json()
        assert [p["call_id"] for p in theirs] == [BETO_CALL.uniqueid]
        every = (await sofia.get("/api/pops")).json()
        assert {p["call_id"] for p in every} == {ANA_CALL.uniqueid, BETO_CALL.uniqueid}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_wallboard_needs_the_supervisor_role(cons: Console) -> None:
    async with signed_in(cons, "ana") as ana:
        assert (await ana.get("/api/muro")).status_code == 403
        assert (await ana.get("/muro")).status_code == 403
    async with signed_in(cons, "sofia") as sofia:
        board = (await sofia.get("/api/muro")).json()
        assert (await sofia.get("/muro")).status_code == 200
    assert {q["queue"] for q in board["queues"]} >= {"q101", "q104"}
    assert [s["service"] for s in board["service_level"]] == ["101", "104", "800131313", "4639999"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_sign_in_and_session_are_checked(cons: Console) -> None:
    transport = httpx.ASGITransport(app=cons.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
        assert (await client.get("/api/pops")).status_code == 401
        assert (await client.get("/consola")).headers["location"] == "/ingresar"
        bad = await client.post("/ingresar", data={"usuario": "ana", "clave": "otra"})
        assert bad.status_code == 401
        assert "incorrectos" in bad.text
        forged = SessionSigner(b"another key").issue("sofia")
        client.cookies.set(COOKIE, forged)
        assert (await client.get("/api/muro")).status_code == 401


async def test_interaction_is_stored_and_published(cons: Console, engine: AsyncEngine) -> None:
    trail = full_trail("101")
    body = {
        "call_id": ANA_CALL.uniqueid,
        "script_id": "101",
        "script_version": 1,
        "trail": trail,
        "note": "Cliente reporta sin tono",
    }
    async with cons.publisher.bus.listen() as queue, signed_in(cons, "ana") as ana:
        step = (
            await ana.post("/api/paso", json={"script_id": "101", "trail": []}, headers=HEADERS)
        ).json()
        assert step["step"]["number"] == 1 and step["options"]
        assert (await ana.post("/api/interacciones", json=body)).status_code == 403
        half = {**body, "trail": trail[:1]}
        assert (await ana.post("/api/interacciones", json=half, headers=HEADERS)).status_code == 422
        r = await ana.post("/api/interacciones", json=body, headers=HEADERS)
        assert r.status_code == 201, r.text
        published = await queue.get()
    async with signed_in(cons, "beto") as beto:
        r2 = await beto.post("/api/interacciones", json=body, headers=HEADERS)
        assert r2.status_code == 404
    saved = r.json()
    assert published.kind == "interaction"
    assert published.topic == "centralita/lab/interactions"
    assert msgspec.json.decode(published.body)["id"] == saved["id"]
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(interactions))).mappings().all()
    assert len(rows) == 1
    row = rows[0]
    assert (row["call_uniqueid"], row["agent"], row["user_name"]) == (
        ANA_CALL.uniqueid,
        "agent1",
        "ana",
    )
    assert (row["script_id"], row["script_version"]) == ("101", 1)
    assert msgspec.json.decode(row["trail"]) == trail
    assert row["outcome_code"] == saved["outcome_code"]
    assert row["note"] == "Cliente reporta sin tono"


@pytest.mark.parametrize(
    ("answered_at", "suggested_goto"),
    [
        ("2026-12-05T10:00:00-04:00", 7),  # Saturday: after Friday noon, e-mail the manager
        ("2026-12-04T12:00:00-04:00", 7),  # Friday noon exactly
        ("2026-12-04T15:59:00+00:00", None),  # 11:59 in La Paz, Friday: damage procedure
        ("2026-12-01T10:00:00-04:00", None),  # Tuesday
    ],
)
async def test_4639999_weekend_branch_is_suggested_from_the_call_time(
    cons: Console, answered_at: str, suggested_goto: int | None
) -> None:
    # Procedure J step 6: from Monday to Friday noon the damage procedure, from Friday
    # noon to Sunday step 7 (e-mail the public-telephony manager): the branch whose window
    # holds the call's time is suggested; the agent still chooses.
    trail = [[1, 0], [2, 0], [3, 1]]  # greeting, Smartflex, "falla técnica" -> step 6
    async with signed_in(cons, "ana") as ana:
        view = (
            await ana.post(
                "/api/paso",
                json={"script_id": "4639999", "trail": trail, "at": answered_at},
                headers=HEADERS,
            )
        ).json()
    assert view["step"]["number"] == 6
    weekend = next(o["index"] for o in view["options"] if "Domingo" in o["label"])
    weekday = next(o["index"] for o in view["options"] if "Lunes" in o["label"])
    assert view["suggested"] == (weekend if suggested_goto == 7 else weekday)
