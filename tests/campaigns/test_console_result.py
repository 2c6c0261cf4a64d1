"""The agent's result of a campaign call through the console (POST /api/campana/resultado):
linked to the attempt, idempotent, checked like the other POST routes, and counted by the
report. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import msgspec
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.store import make_engine
from centralita.campaigns import store
from centralita.campaigns.importer import import_customer_list, import_payments
from centralita.campaigns.ports import CampaignPop
from centralita.campaigns.report import build_report, counts_as_dict
from centralita.console.schema import metadata as console_metadata
from centralita.scripts import load_script
from centralita.wiring import campaign_pop_sink
from tests.campaigns.conftest import LIST_HEADER, create_campaign_tables, write
from tests.console.ami_calls import Call
from tests.console.helpers import Console, console, signed_in

MONTH = "2026-12"
HEADERS = {"X-Centralita": "1"}
URL = "/api/campana/resultado"
LIST = f"{LIST_HEADER}\nK1,71000001,TV Cable,Uno,2026-12-31\nK2,71000002,Internet,Dos,2026-12-31\n"
CALL = Call("1795950000.1", "prepago", "71000001", agent=1, queue="qprepago")


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(db_url)
    async with eng.begin() as conn:
        await conn.run_sync(console_metadata.create_all)
    await create_campaign_tables(eng)
    yield eng
    await eng.dispose()


async def campaign_call(engine: AsyncEngine, c: Console, contract: str) -> int:
    """A campaign call answered and bridged to agent1, popped as the daemon does it."""
    await c.answer(CALL)
    delivered = c.publisher.bus.pop_for_call(CALL.uniqueid)
    assert delivered is not None
    interface = msgspec.json.decode(delivered.body)["agent_interface"]
    cid = (await store.get_campaign(engine, MONTH)).campaign_id
    at = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    attempt_id, _ = await store.add_attempt(
        engine,
        campaign_id=cid,
        contract=contract,
        phone="71000001",
        attempt_no=1,
        queue="qprepago",
        action_prefix="t",
        placed_at=at,
    )
    await store.add_result(engine, attempt_id, "answered", at, uniqueid=CALL.uniqueid)
    await store.add_agent(engine, attempt_id, interface, at)
    pop = CampaignPop(
        agent=interface,
        attempt_id=attempt_id,
        uniqueid=CALL.uniqueid,
        month=MONTH,
        script_id="prepago",
        fields={"contrato": contract, "nombre": "Uno", "servicio": "TV Cable"},
    )
    await campaign_pop_sink(c.publisher)(pop)
    return attempt_id


async def test_console_result_is_idempotent_and_counted(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await import_customer_list(engine, write(tmp_path / "l.csv", LIST), month=None, now_ms=0)
    async with console(engine) as c:
        attempt_id = await campaign_call(engine, c, "K1")
        shown = msgspec.json.decode(c.publisher.bus.pop_for_call(CALL.uniqueid).body)  # type: ignore[union-attr]
        assert shown["ivr"]["fields"]["CC_CAMPAIGN_ATTEMPT"] == str(attempt_id)
        assert shown["customer"]["contract"] == "K1"
        body = {"call_id": CALL.uniqueid, "code": "promesa_pago", "note": "paga el viernes"}
        async with signed_in(c, "ana") as ana:
            walk = await ana.post(
                "/api/paso", json={"script_id": shown["script_id"], "trail": []}, headers=HEADERS
            )
            assert walk.json()["step"]["label"] == "Agente 2"  # the agent's part, not step 1
            assert (await ana.post(URL, json=body)).status_code == 403  # no X-Centralita
            bad = await ana.post(URL, json={**body, "code": "pagó"}, headers=HEADERS)
            assert bad.status_code == 400 and "resultado inválido" in bad.json()["error"]
            first = await ana.post(URL, json=body, headers=HEADERS)
            assert first.status_code == 201, first.text
            assert first.json()["attempt_id"] == attempt_id
            assert first.json()["label"] == "Informado, promete pagar"
            for _ in range(3):  # more clicks: the same result, nothing new stored
                again = await ana.post(URL, json=body, headers=HEADERS)
                assert again.status_code == 200 and again.json()["created"] is False
            other = await ana.post(URL, json={**body, "code": "rechaza"}, headers=HEADERS)
            assert other.status_code == 409
        async with signed_in(c, "beto") as beto:  # another agent's call
            assert (await beto.post(URL, json=body, headers=HEADERS)).status_code == 404
        transport = httpx.ASGITransport(app=c.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console") as anon:
            assert (await anon.post(URL, json=body, headers=HEADERS)).status_code == 401
    state = await store.load_state(engine, MONTH)
    (tried,) = state.attempts["K1"]
    assert tried.disposition == "promesa_pago"
    await import_payments(
        engine, write(tmp_path / "p.csv", "contrato,fecha_pago,monto\nK1,2026-11-28,80\n"), now_ms=0
    )
    report = counts_as_dict(build_report(await store.load_state(engine, MONTH)).total)
    assert report["promesas"] == 1 and report["informados"] == 1
    assert report["contactados"] == 1 and report["gestionados"] == 1
    assert report["efectividad_pct"] == 100.0
    assert report["no_gestionados"] == 1  # K2, never called: the control group


async def bridged_attempt(engine: AsyncEngine, contract: str, interface: str) -> int:
    cid = (await store.get_campaign(engine, MONTH)).campaign_id
    at = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    attempt_id, _ = await store.add_attempt(
        engine,
        campaign_id=cid,
        contract=contract,
        phone="71000002",
        attempt_no=1,
        queue="qprepago",
        action_prefix="t",
        placed_at=at,
    )
    await store.add_result(engine, attempt_id, "answered", at)
    await store.add_agent(engine, attempt_id, interface, at)
    return attempt_id


async def test_an_attempt_is_accepted_only_from_its_own_agents_call(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """A pop without the campaign's attempt (e.g. delivered before the campaign completed
    it) may name the attempt, but only one bridged to that pop's agent."""
    await import_customer_list(engine, write(tmp_path / "l.csv", LIST), month=None, now_ms=0)
    async with console(engine) as c:
        inbound = Call("1795950000.2", "101", "70111222", agent=1)
        await c.answer(inbound)
        delivered = c.publisher.bus.pop_for_call(inbound.uniqueid)
        assert delivered is not None
        mine = msgspec.json.decode(delivered.body)["agent_interface"]
        someone_elses = await bridged_attempt(engine, "K2", "Local/agent2@lab-agents")
        own = await bridged_attempt(engine, "K1", mine)
        async with signed_in(c, "ana") as ana:
            r = await ana.post(
                URL, json={"call_id": inbound.uniqueid, "code": "informado"}, headers=HEADERS
            )
            assert r.status_code == 400 and "campaña prepago" in r.json()["error"]
            forged = {"call_id": inbound.uniqueid, "code": "informado", "attempt_id": someone_elses}
            assert (await ana.post(URL, json=forged, headers=HEADERS)).status_code == 404
            right = {**forged, "attempt_id": own}
            assert (await ana.post(URL, json=right, headers=HEADERS)).status_code == 201
    state = await store.load_state(engine, MONTH)
    assert state.attempts["K2"][0].disposition is None
    assert state.attempts["K1"][0].disposition == "informado"


def test_the_prepago_walk_starts_at_the_agents_call() -> None:
    script = load_script("prepago")
    assert script.step(script.start).label == "Agente 2"
    assert "fecha de vencimiento" in script.step(script.start).text


async def test_the_supervisor_sees_the_months_campaign(engine: AsyncEngine, tmp_path: Path) -> None:
    # Procedure K, Supervisora 4: managed customers and effectiveness, in her own web
    # (the same text `centralita campaign report` prints, and its XLSX); agents may not.
    from centralita.campaigns.report import render_table

    await import_customer_list(engine, write(tmp_path / "l.csv", LIST), month=None, now_ms=0)
    async with console(engine) as c:
        await campaign_call(engine, c, "K1")
        async with signed_in(c, "ana") as ana:
            body = {"call_id": CALL.uniqueid, "code": "informado"}
            assert (await ana.post(URL, json=body, headers=HEADERS)).status_code == 201
            denied = await ana.get(f"/api/supervision/campana?mes={MONTH}")
            assert denied.status_code == 403
        async with signed_in(c, "sofia") as sofia:
            text = await sofia.get(f"/api/supervision/campana?mes={MONTH}&formato=texto")
            xlsx = await sofia.get(f"/api/supervision/campana?mes={MONTH}&formato=xlsx")
            missing = await sofia.get("/api/supervision/campana?mes=2027-06")
            bad = await sofia.get("/api/supervision/campana?mes=2026-13")
    assert text.status_code == 200
    assert text.text == render_table(build_report(await store.load_state(engine, MONTH)))
    assert "Gestionados" in text.text or "gestionados" in text.text
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert missing.status_code == 404 and "no hay campaña" in missing.json()["error"]
    assert bad.status_code == 400
