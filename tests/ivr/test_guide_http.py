"""The guides through the CRM adapter (`GET /guia`) against a real HTTP server on
127.0.0.1: the query as sent, the entries as decoded, a reserved number dropped, and
every way of being down as `DirectoryUnavailableError`."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

from centralita.ivr.directory import GuideEntry
from centralita.ivr.directory_http import HttpCustomerDirectory
from centralita.ivr.events import InputKind
from centralita.ivr.exceptions import DirectoryUnavailableError
from tests.ivr.guide_server import GuideCrm, guide_crm


@pytest.fixture
async def crm() -> AsyncIterator[GuideCrm]:
    async with guide_crm() as server:
        yield server


@pytest.fixture
async def directory(crm: GuideCrm) -> AsyncIterator[HttpCustomerDirectory]:
    found = HttpCustomerDirectory(crm.base, timeout_s=2.0)
    try:
        yield found
    finally:
        await found.close()


async def test_telefonica_sends_the_query_and_decodes_the_entries(
    crm: GuideCrm, directory: HttpCustomerDirectory
) -> None:
    found = await directory.search("telefonica", "  Quispe ", 20)
    assert crm.requests == [{"tipo": "telefonica", "q": "Quispe", "limite": "20"}]
    assert found == [
        GuideEntry(
            name="María Elena Quispe Rojas",
            number="4412345",
            address="Calle Jordán 456",
            locality="Cochabamba",
        ),
        GuideEntry(
            name="Juan Quispe Mamani",
            number="",  # "en reserva": sent by the CRM, dropped here
            address="Av. Heroínas 12",
            locality="Cochabamba",
            reserved=True,
        ),
    ]


async def test_accents_travel_as_utf8_and_nulls_are_empty(
    crm: GuideCrm, directory: HttpCustomerDirectory
) -> None:
    [entry] = await directory.search("telefonica", "ñusta peña", 20)
    assert crm.requests[-1]["q"] == "ñusta peña"
    assert (entry.name, entry.number, entry.address, entry.locality) == (
        "Ñusta Peña",
        "4400011",
        "",
        "",
    )
    assert entry.reserved is False


async def test_comercial_carries_the_category(
    crm: GuideCrm, directory: HttpCustomerDirectory
) -> None:
    [entry] = await directory.search("comercial", "ferreterias", 5)
    assert crm.requests[-1] == {"tipo": "comercial", "q": "ferreterias", "limite": "5"}
    assert (entry.name, entry.category, entry.number, entry.locality) == (
        "Ferretería El Puente",
        "Ferreterías",
        "4223344",
        "Quillacollo",
    )


async def test_limit_and_blank(crm: GuideCrm, directory: HttpCustomerDirectory) -> None:
    assert len(await directory.search("telefonica", "quispe", 1)) == 1
    assert await directory.search("telefonica", "zzz", 10) == []
    assert await directory.search("telefonica", "   ", 10) == []
    assert len(crm.requests) == 2  # the blank query never reached the CRM


async def test_customer_lookup_still_works_on_the_same_client(
    directory: HttpCustomerDirectory,
) -> None:
    found = await directory.lookup(InputKind.PHONE, "4412345")
    assert found is not None and found.contract == "100871"
    assert await directory.lookup(InputKind.PHONE, "4400000") is None


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (503, None),
        (404, None),  # a wrong base URL is not "nothing found"
        (200, b"<html>login</html>"),
        (200, b'{"name": "x"}'),  # not a list
        (200, b'[{"number": "4412345"}]'),  # name missing
        (200, b'[{"name": "x", "reservado": "si"}]'),  # wrong type
    ],
    ids=["http-503", "http-404", "not-json", "not-a-list", "no-name", "bad-type"],
)
async def test_bad_answers_are_directory_unavailable(
    crm: GuideCrm, directory: HttpCustomerDirectory, status: int, body: bytes | None
) -> None:
    crm.status, crm.body = status, body
    with pytest.raises(DirectoryUnavailableError):
        await directory.search("telefonica", "quispe", 20)


async def test_a_slow_crm_is_unavailable(crm: GuideCrm) -> None:
    crm.delay_s = 1.0
    directory = HttpCustomerDirectory(crm.base, timeout_s=0.2)
    try:
        with pytest.raises(DirectoryUnavailableError, match="Timeout"):
            await directory.search("telefonica", "quispe", 20)
    finally:
        await directory.close()


async def test_a_refused_connection_is_unavailable() -> None:
    with socket.socket() as sock:  # a port bound but not listening: refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        directory = HttpCustomerDirectory(f"http://127.0.0.1:{port}", timeout_s=1.0)
        try:
            with pytest.raises(DirectoryUnavailableError, match="ConnectError"):
                await directory.search("comercial", "ferreteria", 20)
        finally:
            await directory.close()
