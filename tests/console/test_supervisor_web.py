"""The supervisor's web: the handover inbox fed by the agents' outcomes, the search and
CSV export of recorded interactions, the month's report downloaded from the browser."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.schema import calls
from centralita.cli import main as cli_main
from centralita.console.handovers import handovers
from centralita.db import open_engine
from tests.console.ami_calls import Call
from tests.console.helpers import PASSWORD, Console, console

HEADERS = {"X-Centralita": "1"}
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# 102: step 4's third branch (cobro excesivo) → step 7.1 "deriva a Supervisión" → step 8.
TO_SUPERVISION_102 = [[1, 0], [2, 0], [3, 0], [4, 2], [7, 0]]
INFORMED_102 = [[1, 0], [2, 0], [3, 0], [4, 0], [5, 0]]
CALL_102 = Call("1795960000.1", "102", "70111222", agent=1)
CALL_104 = Call("1795960000.2", "104", "=HYPERLINK(1)", agent=2)


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = await open_engine(db_url)  # every migration, 0013 (handovers) included
    yield eng
    await eng.dispose()


@contextlib.asynccontextmanager
async def signed_in(c: Console, name: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=c.app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://console", headers=HEADERS
    ) as client:
        r = await client.post("/ingresar", data={"usuario": name, "clave": PASSWORD})
        assert r.status_code == 303, r.text
        yield client


async def record(client: httpx.AsyncClient, call: Call, script: str, trail: Any, note: str) -> None:
    body = {"call_id": call.uniqueid, "script_id": script, "script_version": 1}
    r = await client.post("/api/interacciones", json={**body, "trail": trail, "note": note})
    assert r.status_code in (200, 201), r.text  # 200: the same recording again


async def test_supervision_outcome_opens_a_handover_assigned_and_closed(
    engine: AsyncEngine,
) -> None:
    async with console(engine) as c:
        await c.answer(CALL_102)
        async with signed_in(c, "ana") as ana, signed_in(c, "sofia") as sofia:
            await record(ana, CALL_102, "102", TO_SUPERVISION_102, "Cobro de 900 Bs en octubre")
            await record(ana, CALL_102, "102", TO_SUPERVISION_102, "otra vez")  # same call
            assert (await ana.get("/api/supervision/traspasos")).status_code == 403
            assert (await ana.get("/supervision/traspasos")).status_code == 403
            listed = (await sofia.get("/api/supervision/traspasos")).json()
            [item] = listed["items"]
            assert listed["supervisors"] == ["sofia"]
            assert (item["state"], item["script_id"], item["continues_at"]) == ("open", "102", 8)
            assert (item["agent"], item["agent_user"], item["caller_num"]) == (
                "agent1",
                "ana",
                "70111222",
            )
            assert item["agent_note"] == "Cobro de 900 Bs en octubre"
            assert [s["number"] for s in item["steps"]] == [8, 9, 10, 11]
            # Step 10 (economic claim) or 11 (the supervisor calls the customer back).
            codes = [r["code"] for r in item["resolutions"]]
            assert codes == ["reclamo_economico_registrado", "detalle_factura_explicado"]
            base = f"/api/supervision/traspasos/{item['id']}"
            wrong = await sofia.post(f"{base}/asignar", json={"supervisor": "ana"})
            assert wrong.status_code == 422
            taken = (await sofia.post(f"{base}/asignar", json={})).json()
            assert (taken["state"], taken["assigned_to"]) == ("assigned", "sofia")
            no_note = await sofia.post(
                f"{base}/cerrar", json={"resultado": "detalle_factura_explicado", "nota": " "}
            )
            assert no_note.status_code == 422
            assert "nota" in no_note.json()["error"]
            closed = await sofia.post(
                f"{base}/cerrar",
                json={"resultado": "detalle_factura_explicado", "nota": "Llamé al cliente"},
            )
            assert closed.status_code == 200, closed.text
            again = await sofia.post(
                f"{base}/cerrar", json={"resultado": "detalle_factura_explicado", "nota": "x"}
            )
            assert again.status_code == 409
            pending = (await sofia.get("/api/supervision/traspasos")).json()["items"]
            done = (await sofia.get("/api/supervision/traspasos?estado=closed")).json()["items"]
            page = await sofia.get("/supervision/traspasos")
    assert pending == []
    assert [d["id"] for d in done] == [item["id"]]
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(handovers))).mappings().all()
    assert len(rows) == 1
    row = rows[0]
    assert (row["state"], row["closed_by"], row["resolution_code"]) == (
        "closed",
        "sofia",
        "detalle_factura_explicado",
    )
    assert row["close_note"] == "Llamé al cliente"
    assert page.status_code == 200
    assert 'src="/static/supervisor.js"' in page.text


# 103: step 4's fourth branch (orden anulada) → 9 → 10's second branch (atribuible al
# cliente) → 12 (visit coordinated) → 13 "deriva a supervisión mediante boleta manual".
TO_SUPERVISION_103 = [[1, 0], [2, 0], [3, 0], [4, 3], [9, 0], [10, 1], [12, 0], [13, 0]]
CALL_103 = Call("1795960000.3", "103", "70333444", agent=1)


async def test_closing_a_103_boleta_queues_the_step_15_email_to_the_jefatura(
    engine: AsyncEngine,
) -> None:
    """Procedure C steps 13-15: the agent passes the case on; the supervisor reviews it (14)
    and e-mails the Jefatura del sector (15). The e-mail is queued when she closes the
    handover with step 15's outcome, once, with the agent's and her notes; the inbox shows
    its state. Closing with an outcome that does not pass an e-mail step queues nothing."""
    from centralita.mail.schema import outbox

    async with console(engine) as c:
        await c.answer(CALL_103)
        await c.answer(CALL_102)
        async with signed_in(c, "ana") as ana, signed_in(c, "sofia") as sofia:
            await record(
                ana, CALL_103, "103", TO_SUPERVISION_103, "Visita el martes 10:00, Av. Ayacucho 123"
            )
            await record(ana, CALL_102, "102", TO_SUPERVISION_102, "Cobro excesivo")
            async with engine.connect() as conn:  # nothing before the supervisor's close
                assert (
                    await conn.execute(sa.select(sa.func.count()).select_from(outbox))
                ).scalar() == 0
            items = (await sofia.get("/api/supervision/traspasos")).json()["items"]
            by_script = {i["script_id"]: i for i in items}
            h103, h102 = by_script["103"], by_script["102"]
            assert [s["number"] for s in h103["steps"]] == [14, 15]
            assert [r["code"] for r in h103["resolutions"]] == ["nueva_digitacion_solicitada"]
            closed = await sofia.post(
                f"/api/supervision/traspasos/{h103['id']}/cerrar",
                json={"resultado": "nueva_digitacion_solicitada", "nota": "Boleta revisada"},
            )
            assert closed.status_code == 200, closed.text
            assert closed.json()["mail_queued"] == ["jefatura_sector"]
            assert [
                (m["step"], m["recipient"], m["state_label"]) for m in closed.json()["mail"]
            ] == [(15, "jefatura_sector", "pendiente")]
            other = await sofia.post(
                f"/api/supervision/traspasos/{h102['id']}/cerrar",
                json={"resultado": "detalle_factura_explicado", "nota": "Llamé al cliente"},
            )
            assert other.status_code == 200 and other.json()["mail_queued"] == []
            again = await sofia.post(
                f"/api/supervision/traspasos/{h103['id']}/cerrar",
                json={"resultado": "nueva_digitacion_solicitada", "nota": "otra vez"},
            )
            assert again.status_code == 409
            done = (await sofia.get("/api/supervision/traspasos?estado=closed")).json()["items"]
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(outbox))).mappings().all()
    [row] = rows
    assert (row["call_uniqueid"], row["script_id"], row["step"]) == (CALL_103.uniqueid, "103", 15)
    assert (row["recipient"], row["user_name"], row["agent"]) == (
        "jefatura_sector",
        "sofia",
        "agent1",
    )
    assert row["subject"].startswith("Nueva digitación de servicio")
    body = row["body"]
    assert "Visita el martes 10:00, Av. Ayacucho 123" in body
    assert "Supervisión (sofia): Boleta revisada" in body
    assert "70333444" in body and CALL_103.uniqueid in body
    assert {d["script_id"]: len(d["mail"]) for d in done} == {"103": 1, "102": 0}


async def test_an_outcome_that_stays_with_the_agent_opens_no_handover(
    engine: AsyncEngine,
) -> None:
    async with console(engine) as c:
        await c.answer(CALL_102)
        async with signed_in(c, "ana") as ana:
            await record(ana, CALL_102, "102", INFORMED_102, "")
    async with engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(handovers))).scalar() == 0


async def test_interactions_search_and_formula_safe_csv(engine: AsyncEngine) -> None:
    async with console(engine) as c:
        await c.answer(CALL_102)
        await c.answer(CALL_104)
        async with engine.begin() as conn:  # the stored call records carry the caller
            for call in (CALL_102, CALL_104):
                await conn.execute(calls.insert().values(**call_row(c.live.pbx_id, call)))
        async with signed_in(c, "ana") as ana, signed_in(c, "beto") as beto:
            await record(ana, CALL_102, "102", INFORMED_102, "Informé la deuda")
            await record(beto, CALL_104, "104", trail_104(), "=1+2 cobrar")
        async with signed_in(c, "sofia") as sofia, signed_in(c, "ana") as ana:
            assert (await ana.get("/api/supervision/interacciones")).status_code == 403
            every = (await sofia.get("/api/supervision/interacciones")).json()["rows"]
            by_agent = await sofia.get("/api/supervision/interacciones?agente=agent2")
            by_service = await sofia.get("/api/supervision/interacciones?servicio=102")
            by_caller = await sofia.get("/api/supervision/interacciones?llamante=111222")
            by_outcome = await sofia.get(
                "/api/supervision/interacciones?resultado=facturacion_informada"
            )
            old = await sofia.get(
                "/api/supervision/interacciones?desde=2020-01-01&hasta=2020-01-31"
            )
            bad = await sofia.get(
                "/api/supervision/interacciones?desde=2020-02-01&hasta=2020-01-31"
            )
            exported = await sofia.get("/api/supervision/interacciones.csv")
            options = (await sofia.get("/api/supervision/opciones")).json()
    assert {r["call_id"] for r in every} == {CALL_102.uniqueid, CALL_104.uniqueid}
    assert [r["call_id"] for r in by_agent.json()["rows"]] == [CALL_104.uniqueid]
    assert [r["call_id"] for r in by_service.json()["rows"]] == [CALL_102.uniqueid]
    assert [r["caller_num"] for r in by_caller.json()["rows"]] == ["70111222"]
    assert [r["call_id"] for r in by_outcome.json()["rows"]] == [CALL_102.uniqueid]
    assert old.json()["rows"] == []
    assert bad.status_code == 400
    assert "anterior" in bad.json()["error"]
    assert options["agents"] == ["agent1", "agent2"]
    assert exported.headers["content-disposition"].startswith("attachment;")
    table = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert table[0][:3] == ["Fecha y hora (La Paz)", "Agente", "Usuario"]
    rows = {r[10]: r for r in table[1:]}
    assert rows[CALL_104.uniqueid][7] == "'=HYPERLINK(1)"  # the caller's "number"
    assert rows[CALL_104.uniqueid][9] == "'=1+2 cobrar"  # the note
    assert rows[CALL_102.uniqueid][9] == "Informé la deuda"


def trail_104() -> list[list[int]]:
    from centralita.scripts import load_script, start

    walk = start(load_script("104"))
    while not walk.finished:
        walk = walk.choose(len(walk.options()) - 1)
    return [[m.step, m.option] for m in walk.trail]


def call_row(pbx: str, call: Call) -> dict[str, Any]:
    entered = int(call.t0 * 1000)
    return {
        "pbx_id": pbx,
        "uniqueid": call.uniqueid,
        "linkedid": call.uniqueid,
        "service": call.service,
        "exten": call.service,
        "queue": f"q{call.service}",
        "queues": f"q{call.service}",
        "caller_num": call.caller,
        "caller_name": "",
        "entered_at_ms": entered,
        "answered_at_ms": entered + 5000,
        "outcome": "answered",
    }


# ---------------------------------------------------------------- the month's report


async def load_master_capture(engine: AsyncEngine) -> None:
    from centralita.ami_listener.ingest import ingest_capture

    capture = FIXTURES / "GIT-master-f0c1c1a7b7-scenario.ami"
    data = await asyncio.to_thread(capture.read_bytes)
    await ingest_capture(data, engine, "lab")


def cells(path: Path) -> dict[str, list[list[Any]]]:
    """Every sheet's values, without the generation-time cell (the only one that may
    differ between two runs)."""
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True)
    out = {}
    for sheet in book.worksheets:
        rows = []
        for row in sheet.iter_rows(values_only=True):
            values = list(row)
            if values and values[0] in ("Generado", "Generado el", "Fecha de generación"):
                values = values[:1]
            rows.append(values)
        out[sheet.title] = rows
    return out


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_month_xlsx_downloaded_equals_centralita_report(
    engine: AsyncEngine, db_url: str, tmp_path: Path
) -> None:
    await load_master_capture(engine)
    out = tmp_path / "cli.xlsx"
    argv = ["report", "--month", "2026-11", "--db", db_url, "--format", "xlsx", "--out", str(out)]
    assert await asyncio.to_thread(cli_main, argv) == 0
    async with console(engine) as c, signed_in(c, "sofia") as sofia:
        got = await sofia.get("/api/supervision/informe?mes=2026-11&formato=xlsx")
        pdf = await sofia.get("/api/supervision/informe?mes=2026-11&formato=pdf")
        text = await sofia.get("/api/supervision/informe?mes=2026-11&formato=csv")
        bad = await sofia.get("/api/supervision/informe?mes=2026-13&formato=xlsx")
        sup = await sofia.get("/api/supervision/reporte?mes=2026-11&formato=texto")
        async with signed_in(c, "ana") as ana:
            denied = await ana.get("/api/supervision/informe?mes=2026-11&formato=xlsx")
    assert got.status_code == 200, got.text
    assert 'filename="indicador-ATT-2026-11.xlsx"' in got.headers["content-disposition"]
    web = tmp_path / "web.xlsx"
    web.write_bytes(got.content)
    assert cells(web) == cells(out)
    assert pdf.content.startswith(b"%PDF")
    cli_csv = tmp_path / "cli.csv"
    argv = [
        "report",
        "--month",
        "2026-11",
        "--db",
        db_url,
        "--format",
        "csv",
        "--out",
        str(cli_csv),
    ]
    assert await asyncio.to_thread(cli_main, argv) == 0
    strip = lambda t: [ln for ln in t.splitlines() if "generad" not in ln.lower()]  # noqa: E731
    assert strip(text.text) == strip(cli_csv.read_text("utf-8"))
    assert bad.status_code == 400
    assert sup.status_code == 200
    assert "Reporte de supervisión" in sup.text
    assert denied.status_code == 403
