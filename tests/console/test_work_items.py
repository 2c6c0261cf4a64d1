"""Work items (issue #12, item 1): each answered call keeps its draft server-side until the
agent records it, once; the call's end is noted; the caller's history; generic outcomes.
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.store import make_engine
from centralita.console.interactions import GENERIC_OUTCOMES
from centralita.console.schema import interactions, work_items
from centralita.console.schema import metadata as console_metadata
from centralita.scripts import load_script, start
from tests.console.ami_calls import Call
from tests.console.helpers import console, signed_in

HEADERS = {"X-Centralita": "1"}
FIRST = Call("1795960000.1", "101", "70111222", agent=1)
SECOND = Call("1795960000.2", "104", "70555666", agent=1, t0=1_795_960_100.0)
AGAIN = Call("1795960000.3", "101", "70111222", agent=1, t0=1_795_960_200.0)


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(db_url)
    async with eng.begin() as conn:  # migrations make them in production (0011)
        await conn.run_sync(console_metadata.create_all)
    yield eng
    await eng.dispose()


async def eventually(check: Callable[[], Any], within: float = 5.0) -> Any:
    """Poll an async check until it returns something truthy (the follower is a task)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = await check()
        if found:
            return found
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.02)


def full_trail(script_id: str) -> list[list[int]]:
    walk = start(load_script(script_id))
    while not walk.finished:
        walk = walk.choose(len(walk.options()) - 1)
    return [[m.step, m.option] for m in walk.trail]


async def rows(engine: AsyncEngine, table: sa.Table) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(sa.select(table).order_by(table.c.id))).mappings())


async def test_pop_opens_an_item_whose_draft_survives_a_restart(engine: AsyncEngine) -> None:
    async with console(engine, wrapup_s=30) as c, signed_in(c, "ana") as ana:
        await c.answer(FIRST)

        async def listed() -> list[Any]:
            return list((await ana.get("/api/trabajos")).json()["items"])

        [item] = await eventually(listed)
        assert (item["call_id"], item["state"], item["wrapup_s"]) == (FIRST.uniqueid, "open", 30)
        assert item["pop"]["caller_num"] == "70111222"
        assert item["call_ended_at_ms"] is None
        draft = {"trail": [[1, 0], [2, 0]], "note": "Sin tono", "generic": ""}
        url = f"/api/trabajos/{FIRST.uniqueid}"
        assert (await ana.put(url, json=draft)).status_code == 403  # no X-Centralita
        assert (await ana.put(url, json=draft, headers=HEADERS)).status_code == 200
        bad = {"trail": "x", "note": ""}
        assert (await ana.put(url, json=bad, headers=HEADERS)).status_code == 400
        async with signed_in(c, "beto") as beto:  # another agent's call
            assert (await beto.put(url, json=draft, headers=HEADERS)).status_code == 404
            assert (await beto.get("/api/trabajos?agent=agent1")).status_code == 403

        c.play(FIRST.end())

        async def ended() -> Any:
            [i] = (await ana.get("/api/trabajos")).json()["items"]
            return i["call_ended_at_ms"]

        ended_ms = await eventually(ended)
        assert abs(ended_ms - (FIRST.t0 + FIRST.wait_s + FIRST.talk_s) * 1000) < 1000  # hangup
        body = (await ana.get("/api/trabajos")).json()
        assert body["after_call_until_ms"] == ended_ms + 30_000

    # A new daemon (empty bus): the item, its draft and its end are still there.
    async with console(engine) as c2, signed_in(c2, "ana") as ana:
        assert c2.publisher.bus.pop_for_call(FIRST.uniqueid) is None
        [item] = (await ana.get("/api/trabajos")).json()["items"]
        assert (item["trail"], item["note"], item["call_ended_at_ms"]) == (
            [[1, 0], [2, 0]],
            "Sin tono",
            ended_ms,
        )
        body = {"trail": full_trail("101"), "note": "Sin tono", "script_id": "101"}
        r = await ana.post(f"/api/trabajos/{FIRST.uniqueid}/registrar", json=body, headers=HEADERS)
        assert r.status_code == 201, r.text
        assert (await ana.get("/api/trabajos")).json()["items"] == []
    [stored] = await rows(engine, interactions)
    assert (stored["call_uniqueid"], stored["agent"], stored["note"]) == (
        FIRST.uniqueid,
        "agent1",
        "Sin tono",
    )


async def test_recording_twice_stores_one_row(engine: AsyncEngine) -> None:
    async with console(engine) as c, signed_in(c, "ana") as ana:
        await c.answer(FIRST)
        body = {
            "call_id": FIRST.uniqueid,
            "script_id": "101",
            "script_version": load_script("101").version,
            "trail": full_trail("101"),
            "note": "una vez",
        }
        answers = await asyncio.gather(
            *(ana.post("/api/interacciones", json=body, headers=HEADERS) for _ in range(4)),
            ana.post(f"/api/trabajos/{FIRST.uniqueid}/registrar", json=body, headers=HEADERS),
        )
        codes = sorted(r.status_code for r in answers)
        assert codes == [200, 200, 200, 200, 201], [r.text for r in answers]
        assert len({r.json()["id"] for r in answers}) == 1
        again = await ana.post("/api/interacciones", json=body, headers=HEADERS)
        assert again.status_code == 200
        assert again.json()["id"] == answers[0].json()["id"]
    assert len(await rows(engine, interactions)) == 1
    [item] = await rows(engine, work_items)
    assert item["state"] == "recorded"
    assert item["interaction_id"] == answers[0].json()["id"]


async def test_generic_outcomes_and_the_calls_own_script(engine: AsyncEngine) -> None:
    async with console(engine) as c, signed_in(c, "ana") as ana:
        await c.answer(FIRST)
        url = f"/api/trabajos/{FIRST.uniqueid}/registrar"
        half = {"trail": [[1, 0]], "note": ""}
        assert (await ana.post(url, json=half, headers=HEADERS)).status_code == 422
        other = {**half, "script_id": "104", "generic": "colgo"}
        r = await ana.post(url, json=other, headers=HEADERS)
        assert r.status_code == 422 and "no es el del servicio" in r.json()["error"]
        unknown = {**half, "generic": "se_aburrio"}
        assert (await ana.post(url, json=unknown, headers=HEADERS)).status_code == 400
        r = await ana.post(url, json={**half, "generic": "numero_equivocado"}, headers=HEADERS)
        assert r.status_code == 201, r.text
        saved = r.json()
    assert (saved["outcome_code"], saved["outcome_label"], saved["trail"]) == (
        "numero_equivocado",
        "Número equivocado",
        [[1, 0]],
    )
    assert set(GENERIC_OUTCOMES) == {"colgo", "numero_equivocado", "llamada_cortada"}


def test_generic_codes_are_no_scripts_codes() -> None:
    data = Path(__file__).resolve().parents[2] / "centralita" / "scripts" / "data"
    for path in sorted(data.glob("*.toml")):
        script = load_script(path.stem)
        codes = {o.code for o in script.outcomes}
        assert not codes & set(GENERIC_OUTCOMES), path.name


async def test_the_callers_last_interactions(engine: AsyncEngine) -> None:
    async with console(engine) as c, signed_in(c, "ana") as ana:
        await c.answer(FIRST)
        body = {"trail": full_trail("101"), "note": "Primera vez"}
        r = await ana.post(f"/api/trabajos/{FIRST.uniqueid}/registrar", json=body, headers=HEADERS)
        assert r.status_code == 201, r.text
        await c.answer(AGAIN)
        await c.answer(SECOND)
        url = f"/api/historial?numero=70111222&excluir={AGAIN.uniqueid}"
        [last] = (await ana.get(url)).json()
        assert (last["call_id"], last["note"], last["outcome_code"]) == (
            FIRST.uniqueid,
            "Primera vez",
            "dano_generado",
        )
        assert last["service_name"] == "Reclamos Técnicos"
        assert (await ana.get(url.replace(AGAIN.uniqueid, FIRST.uniqueid))).json() == []
        async with signed_in(c, "beto") as beto:  # not one of beto's callers
            assert (await beto.get(url)).status_code == 403
        async with signed_in(c, "sofia") as sofia:
            assert len((await sofia.get(url)).json()) == 1
        # The next call waits as the next item: both are open, oldest first.
        items = (await ana.get("/api/trabajos")).json()["items"]
        assert [i["call_id"] for i in items] == [AGAIN.uniqueid, SECOND.uniqueid]


async def test_history_keeps_the_last_five(engine: AsyncEngine) -> None:
    calls = [
        Call(f"1795970000.{n}", "101", "70999000", agent=1, t0=1_795_970_000.0 + 100 * n)
        for n in range(1, 8)
    ]
    async with console(engine) as c, signed_in(c, "ana") as ana:
        for n, call in enumerate(calls):
            await c.answer(call)
            if n < 6:
                body = {"trail": [[1, 0]], "note": f"nota {n}", "generic": "colgo"}
                url = f"/api/trabajos/{call.uniqueid}/registrar"
                assert (await ana.post(url, json=body, headers=HEADERS)).status_code == 201
        got = (await ana.get(f"/api/historial?numero=70999000&excluir={calls[6].uniqueid}")).json()
    assert [g["note"] for g in got] == ["nota 5", "nota 4", "nota 3", "nota 2", "nota 1"]
    assert msgspec.json.encode(got)  # JSON-clean
