"""GET /api/guia: the guides of 104 and 4200224 for signed-in users, through a real CRM
on 127.0.0.1 or the customers table; reserved numbers never sent; every failure a
Spanish answer (400, 429, 501, 503), never a 500; the query masked in the logs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from centralita.ami_listener.store import make_engine
from centralita.console.guide import RATE_LIMIT, RateLimit, mask_query
from centralita.console.schema import metadata as console_metadata
from centralita.ivr.directory import GuideEntry, GuideKind
from centralita.ivr.directory_http import HttpCustomerDirectory
from centralita.ivr.schema import customers
from centralita.ivr.schema import metadata as ivr_metadata
from tests.console.helpers import console, signed_in
from tests.ivr.guide_server import GuideCrm, guide_crm


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(db_url)
    async with eng.begin() as conn:  # migrations make these in production
        await conn.run_sync(console_metadata.create_all)
        await conn.run_sync(ivr_metadata.create_all)
        await conn.execute(
            insert(customers),
            [
                {
                    "contract": "100234",
                    "name": "José Peña Rojas",
                    "phone": "4412345",
                    "segment": "residencial",
                    "services": "",
                    "address": "Av. Heroínas 123",
                    "notes": "",
                }
            ],
        )
    yield eng
    await eng.dispose()


@pytest.fixture
async def crm() -> AsyncIterator[GuideCrm]:
    async with guide_crm() as server:
        yield server


@pytest.fixture
async def crm_directory(crm: GuideCrm) -> AsyncIterator[HttpCustomerDirectory]:
    directory = HttpCustomerDirectory(crm.base, timeout_s=2.0)
    yield directory
    await directory.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_sign_in_required(engine: AsyncEngine) -> None:
    import httpx

    async with console(engine) as c:
        transport = httpx.ASGITransport(app=c.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console") as anon:
            r = await anon.get("/api/guia?tipo=telefonica&q=pena")
    assert r.status_code == 401


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_crm_answers_and_a_reserved_number_is_never_sent(
    engine: AsyncEngine, crm: GuideCrm, crm_directory: HttpCustomerDirectory
) -> None:
    async with console(engine, guide=crm_directory) as c, signed_in(c, "ana") as ana:
        r = await ana.get("/api/guia", params={"tipo": "telefonica", "q": "quispe"})
        comercial = await ana.get("/api/guia", params={"tipo": "comercial", "q": "ferretería"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["estado"], body["guia"], body["fuente"]) == ("ok", "Guiatel", "CRM")
    assert body["resultados"] == [
        {
            "name": "María Elena Quispe Rojas",
            "number": "4412345",
            "address": "Calle Jordán 456",
            "locality": "Cochabamba",
            "category": "",
            "reservado": False,
        },
        {
            "name": "Juan Quispe Mamani",
            "number": None,
            "address": "Av. Heroínas 12",
            "locality": "Cochabamba",
            "category": "",
            "reservado": True,
        },
    ]
    assert "4498765" not in r.text  # the CRM sent it; it stops here
    assert crm.requests[0] == {"tipo": "telefonica", "q": "quispe", "limite": "20"}
    assert comercial.status_code == 200
    [shop] = comercial.json()["resultados"]
    assert (shop["name"], shop["category"], shop["number"]) == (
        "Ferretería El Puente",
        "Ferreterías",
        "4223344",
    )


async def test_without_crm_guiatel_is_the_customers_table(engine: AsyncEngine) -> None:
    async with console(engine) as c, signed_in(c, "ana") as ana:
        r = await ana.get("/api/guia", params={"tipo": "telefonica", "q": "PENA heroinas"})
        comercial = await ana.get("/api/guia", params={"tipo": "comercial", "q": "ferreteria"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["fuente"] == "directorio local de clientes"
    assert [(e["name"], e["number"], e["reservado"]) for e in body["resultados"]] == [
        ("José Peña Rojas", "4412345", False)
    ]
    assert comercial.status_code == 501
    assert comercial.json()["estado"] == "no_configurada"
    assert "Guía Comercial no está configurada" in comercial.json()["error"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("status", "body"), [(503, None), (200, b"<html>")], ids=["503", "html"])
async def test_a_crm_down_is_directorio_no_disponible(
    engine: AsyncEngine,
    crm: GuideCrm,
    crm_directory: HttpCustomerDirectory,
    status: int,
    body: bytes | None,
) -> None:
    crm.status, crm.body = status, body
    async with console(engine, guide=crm_directory) as c, signed_in(c, "ana") as ana:
        r = await ana.get("/api/guia", params={"tipo": "comercial", "q": "ferreteria"})
    assert r.status_code == 503
    assert r.json()["estado"] == "no_disponible"
    assert r.json()["error"].startswith("Guía Comercial: directorio no disponible")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_closed_crm_port_is_directorio_no_disponible(engine: AsyncEngine) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        directory = HttpCustomerDirectory(f"http://127.0.0.1:{sock.getsockname()[1]}")
        async with console(engine, guide=directory) as c, signed_in(c, "ana") as ana:
            r = await ana.get("/api/guia", params={"tipo": "telefonica", "q": "quispe"})
        await directory.close()
    assert r.status_code == 503
    assert "directorio no disponible" in r.json()["error"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_wrong_requests_are_400(engine: AsyncEngine) -> None:
    async with console(engine) as c, signed_in(c, "ana") as ana:
        wrong = await ana.get("/api/guia", params={"tipo": "amarilla", "q": "pena"})
        missing = await ana.get("/api/guia", params={"q": "pena"})
        short = await ana.get("/api/guia", params={"tipo": "telefonica", "q": " a  "})
    assert wrong.status_code == missing.status_code == short.status_code == 400
    assert "tipo de guía desconocido" in wrong.json()["error"]
    assert "al menos 2 caracteres" in short.json()["error"]


class CountingGuide:
    """A guide that finds one entry and counts the searches that reached it."""

    source = "crm"

    def __init__(self) -> None:
        self.calls = 0

    async def search(self, guide: GuideKind, text: str, limit: int) -> list[GuideEntry]:
        self.calls += 1
        return [GuideEntry(name="Ñusta Peña", number="4400011")]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_searches_are_limited_per_user(engine: AsyncEngine) -> None:
    guide = CountingGuide()
    async with console(engine, guide=guide) as c:
        async with signed_in(c, "ana") as ana:
            answers = [
                (await ana.get("/api/guia", params={"tipo": "telefonica", "q": f"pe{n}"}))
                for n in range(RATE_LIMIT + 1)
            ]
        async with signed_in(c, "beto") as beto:  # another user has their own allowance
            other = await beto.get("/api/guia", params={"tipo": "telefonica", "q": "pena"})
    assert [a.status_code for a in answers[:-1]] == [200] * RATE_LIMIT
    limited = answers[-1]
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert "demasiadas búsquedas" in limited.json()["error"]
    assert other.status_code == 200
    assert guide.calls == RATE_LIMIT + 1  # the refused one never reached the guide


def test_rate_limit_window_slides() -> None:
    now = [0.0]
    rate = RateLimit(2, 10.0, clock=lambda: now[0])
    assert rate.wait_s("ana") == rate.wait_s("ana") == 0.0
    now[0] = 4.0
    assert rate.wait_s("ana") == pytest.approx(6.0)
    assert rate.wait_s("beto") == 0.0
    now[0] = 10.0
    assert rate.wait_s("ana") == 0.0  # the first search left the window


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_query_is_masked_in_the_logs(engine: AsyncEngine) -> None:
    async with console(engine, guide=CountingGuide()) as c, signed_in(c, "ana") as ana:
        with capture_logs() as logs:
            r = await ana.get("/api/guia", params={"tipo": "telefonica", "q": "José Peña 4412345"})
    assert r.status_code == 200
    [event] = [e for e in logs if e["event"] == "guide_search"]
    assert event["consulta"] == "J*** P*** ****345"
    assert event["results"] == 1
    text = repr(logs)
    assert "José" not in text and "4412345" not in text and "4400011" not in text


def test_mask_query() -> None:
    assert mask_query("Ferretería El Puente") == "F********* E* P*****"
    assert mask_query("44 12-345") == "** **-***"  # short runs: every digit masked
    assert mask_query("71234567") == "*****567"
