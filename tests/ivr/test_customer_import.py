"""`customers import`: whole-file validation, line-numbered errors, all or nothing; SQL lookups."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from centralita.ivr.customer_import import import_customers, parse_customers_csv
from centralita.ivr.directory import SqlCustomerDirectory
from centralita.ivr.events import InputKind
from centralita.ivr.exceptions import CsvHeaderError, CsvRowsError, CustomerImportError
from centralita.ivr.schema import customers, metadata

GOOD = """contract,phone,ci,name,segment,services,address,notes
100234,4412345,3456789 CB,José Peña,Residencial,telefonía fija; internet,"Av. Heroínas 123, Cbba",
200999,+591 71234567,5551234,Ñusta Quispe SRL,VIP,internet;tv cable,Calle Sucre 5,cliente preferente
300100,,5551234,Ñusta Quispe SRL,empresa,internet,Calle Sucre 5,
"""


def write(tmp_path: Path, text: str, name: str = "clientes.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


async def customers_db(url: str) -> AsyncEngine:
    """An engine with the customers table (the CLI's migration makes it in production)."""
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return engine


async def count(url: str) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return int(
                (await conn.execute(select(func.count()).select_from(customers))).scalar_one()
            )
    finally:
        await engine.dispose()


async def test_good_file_is_imported_and_looked_up(db_url: str, tmp_path: Path) -> None:
    engine = await customers_db(db_url)
    try:
        summary = await import_customers(engine, write(tmp_path, GOOD))
        assert summary.rows == 3
        directory = SqlCustomerDirectory(engine)
        by_phone = await directory.lookup(InputKind.PHONE, "71234567")
        assert by_phone is not None
        assert by_phone.contract == "200999"
        assert by_phone.segment == "vip"
        assert by_phone.services == ("internet", "tv cable")
        by_contract = await directory.lookup(InputKind.CONTRACT, "100234")
        assert by_contract is not None
        assert by_contract.name == "José Peña"
        assert by_contract.ci == "3456789"
        assert by_contract.address == "Av. Heroínas 123, Cbba"
        # a CI with two contracts: the most important segment wins
        by_ci = await directory.lookup(InputKind.CI, "5551234")
        assert by_ci is not None
        assert by_ci.contract == "200999"
        assert await directory.lookup(InputKind.PHONE, "4999999") is None
        # importing again replaces rows by contract, never duplicates them
        changed = GOOD.replace("José Peña", "José Peña Rojas")
        await import_customers(engine, write(tmp_path, changed, "again.csv"))
        again = await directory.lookup(InputKind.CONTRACT, "100234")
        assert again is not None
        assert again.name == "José Peña Rojas"
    finally:
        await engine.dispose()
    assert await count(db_url) == 3


async def test_replace_all_empties_the_table_first(db_url: str, tmp_path: Path) -> None:
    engine = await customers_db(db_url)
    try:
        await import_customers(engine, write(tmp_path, GOOD))
        one = "contract,name,segment\n555,Renée Choque,residencial\n"
        summary = await import_customers(engine, write(tmp_path, one, "one.csv"), replace_all=True)
        assert summary.replaced_all
    finally:
        await engine.dispose()
    assert await count(db_url) == 1


async def test_bad_lines_are_all_reported_and_nothing_is_imported(
    db_url: str, tmp_path: Path
) -> None:
    bad = (
        GOOD
        + "\n"  # a blank line is skipped, line numbers stay physical
        + "X-1,4412345,3456789,Ana,residencial,,,\n"  # line 6
        + "400,123,3456789,Ana,residencial,,,\n"  # line 7
        + "401,4412345,3456789,,residencial,,,\n"  # line 8
        + "402,4412345,3456789,Ana,platino,,,\n"  # line 9
        + "403,4412345,12,Ana,residencial,,,\n"  # line 10
        + "404,4412345\n"  # line 11
        + "100234,4412345,3456789,Ana,residencial,,,\n"  # line 12, repeats line 2
    )
    engine = await customers_db(db_url)
    try:
        with pytest.raises(CsvRowsError) as caught:
            await import_customers(engine, write(tmp_path, bad))
    finally:
        await engine.dispose()
    lines = [(e.line, e.reason) for e in caught.value.errors]
    assert [line for line, _ in lines] == [6, 7, 8, 9, 10, 11, 12]
    reasons = dict(lines)
    assert reasons[6] == "el contrato «X-1» debe tener de 1 a 32 dígitos"
    assert reasons[7] == "el teléfono «123» no es un fijo de 7 dígitos ni un celular de 8"
    assert reasons[8] == "el nombre está vacío o tiene más de 200 caracteres"
    assert (
        reasons[9]
        == "el segmento «platino» no es uno de vip, corporativo, empresa, pyme, residencial"
    )
    assert reasons[10] == "el CI «12» debe empezar con 4 a 12 dígitos"
    assert reasons[11] == "se esperan 8 campos, hay 2"
    assert reasons[12] == "el contrato 100234 repite el de la línea 2"
    assert "línea 6: el contrato «X-1»" in str(caught.value)
    assert "7 línea(s) con error, no se importó nada" in str(caught.value)
    assert await count(db_url) == 0  # nothing was written at all


async def test_unlisted_marks_a_number_en_reserva(db_url: str, tmp_path: Path) -> None:
    """The optional `unlisted` column (procedure D: the 104 guide does not give a number
    "en reserva"): sí/no in several spellings, anything else refused with its line."""
    text = (
        "contract,name,segment,phone,unlisted\n"
        "1,Ana Rojas,residencial,4411111,sí\n"
        "2,Beto Flores,residencial,4411112,No\n"
        "3,Carla Paz,residencial,4411113,\n"
        "4,Dina Vaca,residencial,4411114,x\n"
    )
    engine = await customers_db(db_url)
    try:
        await import_customers(engine, write(tmp_path, text))
        async with engine.connect() as conn:
            rows = (await conn.execute(select(customers.c.contract, customers.c.unlisted))).all()
        with pytest.raises(CsvRowsError) as caught:
            await import_customers(engine, write(tmp_path, text + "5,Eva,residencial,,tal vez\n"))
    finally:
        await engine.dispose()
    assert sorted((c, bool(u)) for c, u in rows) == [
        ("1", True),
        ("2", False),
        ("3", False),
        ("4", True),
    ]
    [(line, reason)] = [(e.line, e.reason) for e in caught.value.errors]
    assert (line, reason) == (6, "unlisted «tal vez» debe ser sí o no (número en reserva)")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("contrato,name,segment", "falta la columna contract; columna desconocida «contrato»"),
        ("contract,name,segment,email", "columna desconocida «email»"),
        ("contract,name,name,segment", "columna repetida name"),
        ("nombre,telefono", "faltan las columnas contract, name, segment; columnas desconocidas"),
    ],
)
def test_wrong_columns_are_a_clear_error(tmp_path: Path, header: str, message: str) -> None:
    with pytest.raises(CsvHeaderError) as caught:
        parse_customers_csv(write(tmp_path, header + "\n1,Ana,vip\n"))
    assert message in str(caught.value)
    assert str(caught.value).startswith("fila de encabezado: ")
    assert "(se esperan: contract, name, segment, phone" in str(caught.value)


def test_empty_file_and_non_utf8(tmp_path: Path) -> None:
    with pytest.raises(CsvHeaderError, match=r"^archivo vacío: falta la fila de encabezado$"):
        parse_customers_csv(write(tmp_path, ""))
    latin = tmp_path / "latin1.csv"
    latin.write_bytes("contract,name,segment\n1,José,vip\n".encode("latin-1"))
    with pytest.raises(
        CustomerImportError, match=r"^línea 2: no es texto UTF-8, no se importó nada$"
    ):
        parse_customers_csv(latin)


def test_bom_and_header_case_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffContract, Name ,SEGMENT\n7,Zoë Álvarez,Corporativo\n".encode())
    assert parse_customers_csv(path)[0]["segment"] == "corporativo"


async def test_sql_directory_down_is_directory_unavailable(tmp_path: Path) -> None:
    from centralita.ivr.exceptions import DirectoryUnavailableError

    directory = SqlCustomerDirectory.from_url("postgresql+asyncpg://127.0.0.1:1/nothing")
    try:
        with pytest.raises(DirectoryUnavailableError):
            await directory.lookup(InputKind.PHONE, "4412345")
    finally:
        await directory.close()
    missing_table = SqlCustomerDirectory.from_url(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    try:
        with pytest.raises(DirectoryUnavailableError):
            await missing_table.lookup(InputKind.PHONE, "4412345")
    finally:
        await missing_table.close()
