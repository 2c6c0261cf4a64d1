"""The "telefonica" guide without a CRM: the `customers` table, searched by name, address
or the number's first digits without accents or case, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import create_async_engine

from centralita.ivr.directory import GuideEntry, SqlCustomerDirectory
from centralita.ivr.exceptions import DirectoryUnavailableError, GuideNotConfiguredError
from centralita.ivr.schema import customers, metadata

ROWS = [
    ("100234", "José Peña Rojas", "4412345", "Av. Heroínas 123, Cochabamba"),
    ("100871", "MARÍA ELENA QUISPE", "71234567", "Calle Jordán 456"),
    ("200999", "Ñusta Servicios SRL", "4251234", "Av. Ayacucho 789"),
    ("300100", "Jose Perez", "4412399", "Calle 100% Sucre_5"),
    ("400400", "Pena Sin Telefono", None, "Av. Peña 1"),  # no number: not in the guide
    ("500500", "Rosa Quispe Reservada", "4477001", "Calle Jordán 9"),  # "en reserva"
]
UNLISTED = {"500500"}


@pytest.fixture
async def directory(db_url: str) -> AsyncIterator[SqlCustomerDirectory]:
    engine = create_async_engine(db_url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(
            insert(customers),
            [
                {
                    "contract": contract,
                    "name": name,
                    "phone": phone,
                    "segment": "residencial",
                    "services": "",
                    "address": address,
                    "notes": "",
                    "unlisted": contract in UNLISTED,
                }
                for contract, name, phone, address in ROWS
            ],
        )
    try:
        yield SqlCustomerDirectory(engine)
    finally:
        await engine.dispose()


async def names(directory: SqlCustomerDirectory, text: str, limit: int = 20) -> list[str]:
    return [e.name for e in await directory.search("telefonica", text, limit)]


async def test_words_match_without_accents_or_case(directory: SqlCustomerDirectory) -> None:
    assert await names(directory, "jose pena") == ["José Peña Rojas"]
    assert await names(directory, "PEÑA") == ["José Peña Rojas"]  # not the one without phone
    assert await names(directory, "maría quispe") == ["MARÍA ELENA QUISPE"]
    assert await names(directory, "nusta") == ["Ñusta Servicios SRL"]
    assert await names(directory, "josé") == ["José Peña Rojas", "Jose Perez"]


async def test_address_words_match(directory: SqlCustomerDirectory) -> None:
    assert await names(directory, "heroinas") == ["José Peña Rojas"]
    assert await names(directory, "pena heroinas") == ["José Peña Rojas"]
    assert await names(directory, "jordan quispe") == [
        "MARÍA ELENA QUISPE",
        "Rosa Quispe Reservada",
    ]
    assert await names(directory, "jordan perez") == []


async def test_digits_find_numbers_starting_with_them(directory: SqlCustomerDirectory) -> None:
    assert await names(directory, "4412") == ["José Peña Rojas", "Jose Perez"]
    assert await names(directory, "441-2345") == ["José Peña Rojas"]
    assert await names(directory, "2345") == []  # a prefix, not anywhere in the number


async def test_wildcards_are_literal(directory: SqlCustomerDirectory) -> None:
    assert await names(directory, "100%") == ["Jose Perez"]
    assert await names(directory, "%") == ["Jose Perez"]  # only the address with a "%"
    assert await names(directory, "_") == ["Jose Perez"]  # only the address with a "_"
    assert await names(directory, "1_0") == []  # "_" as a wildcard would match "100"
    assert await names(directory, "he%as") == []  # "%" as a wildcard: "heroinas"


async def test_entries_carry_number_and_address(directory: SqlCustomerDirectory) -> None:
    found = await directory.search("telefonica", "maria quispe", 20)
    assert found == [
        GuideEntry(name="MARÍA ELENA QUISPE", number="71234567", address="Calle Jordán 456")
    ]
    assert directory.source == "clientes"
    everything = await directory.search("telefonica", "a", 50)
    assert [e.name for e in everything if e.reserved] == ["Rosa Quispe Reservada"]


async def test_limit_and_blank(directory: SqlCustomerDirectory) -> None:
    assert await names(directory, "jose", 1) == ["José Peña Rojas"]
    assert await names(directory, "   ") == []


async def test_comercial_is_not_configured(directory: SqlCustomerDirectory) -> None:
    with pytest.raises(GuideNotConfiguredError):
        await directory.search("comercial", "ferreteria", 20)


async def test_a_missing_table_is_unavailable(tmp_path: Path) -> None:
    directory = SqlCustomerDirectory.from_url(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    try:
        with pytest.raises(DirectoryUnavailableError):
            await directory.search("telefonica", "quispe", 20)
    finally:
        await directory.close()


async def test_an_unlisted_number_is_found_but_never_given(directory: SqlCustomerDirectory) -> None:
    """Procedure D step 3: a number "en reserva" is not given (the agent says there is no
    record); the entry says so, without its number, whether found by name or by digits."""
    [by_name] = await directory.search("telefonica", "rosa reservada", 20)
    assert (by_name.name, by_name.number, by_name.reserved) == ("Rosa Quispe Reservada", "", True)
    [by_digits] = await directory.search("telefonica", "447700", 20)
    assert (by_digits.number, by_digits.reserved) == ("", True)
    [listed] = await directory.search("telefonica", "4412345", 20)
    assert (listed.number, listed.reserved) == ("4412345", False)
