"""Imports: valid files load whole; any bad line → per-line errors and nothing imported."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.campaigns.exceptions import CsvHeaderError, CsvRowsError, FileImportError
from centralita.campaigns.importer import import_customer_list, import_dnc, import_payments
from centralita.campaigns.schema import customers_in_list, do_not_call, payments
from centralita.campaigns.store import load_state
from tests.campaigns.conftest import LIST_HEADER, customer_list, write


async def _count(engine: AsyncEngine, table: sa.Table) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


async def test_good_list_is_imported_whole_and_split_by_service(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    path = write(tmp_path / "lista.csv", customer_list(10))
    done = await import_customer_list(engine, path, month=None, now_ms=0)
    assert (done.month, done.customers, done.by_service) == (
        "2025-03",
        10,
        {"tv_cable": 5, "internet": 5},
    )
    state = await load_state(engine, "2025-03")
    first = state.customers[0]
    assert (first.contract, first.phones, first.service) == (
        "C1000",
        ("70001000", "2001000"),
        "tv_cable",
    )
    assert state.campaign.status == "active"
    assert state.campaign.script_id == "prepago"


async def test_bad_lines_are_all_reported_and_nothing_is_imported(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    text = "\n".join(
        [
            LIST_HEADER,
            "C1,71234567,TV Cable,Ana,2025-03-28",
            "C2,12ab,Internet,Beto,2025-03-28",  # line 3: bad phone
            "C3,71234568,Telefonia,Carla,2025-03-28",  # line 4: unknown service
            "C1,71234569,Internet,Dora,2025-03-28",  # line 5: duplicate contract
            "C4,71234570,internet,Eva,31/02/2025",  # line 6: bad date
            "C5,71234571,Internet,,2025-03-28",  # line 7: no name
            "C6,71234572,Internet,Fabio,2025-04-30",  # line 8: other month
            "C7,71234573,Internet,Gina",  # line 9: missing field
        ]
    )
    path = write(tmp_path / "mala.csv", text + "\n")
    with pytest.raises(CsvRowsError) as caught:
        await import_customer_list(engine, path, month=None, now_ms=0)
    messages = [str(e) for e in caught.value.errors]
    assert messages == ["línea 9: se esperan 5 campos, hay 4"]
    # a file whose every line has the right width reports each content error
    path = write(tmp_path / "mala.csv", "\n".join(text.splitlines()[:-1]) + "\n")
    with pytest.raises(CsvRowsError) as caught:
        await import_customer_list(engine, path, month=None, now_ms=0)
    messages = [str(e) for e in caught.value.errors]
    assert messages == [
        'línea 3: teléfono "12ab" inválido',
        'línea 4: servicio "Telefonia" desconocido (TV Cable o Internet)',
        "línea 5: contrato C1 duplicado (ya en la línea 2)",
        'línea 6: fecha de vencimiento "31/02/2025" inválida (se espera AAAA-MM-DD o DD/MM/AAAA)',
        "línea 7: nombre vacío o de más de 200 caracteres",
        "línea 8: vencimiento 2025-04-30 fuera del mes de la campaña 2025-03",
    ]
    assert await _count(engine, customers_in_list) == 0


async def test_wrong_columns_are_a_clear_error(engine: AsyncEngine, tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", "contrato,fono,servicio,nombre,plan\nC1,7,TV,Ana,x\n")
    with pytest.raises(CsvHeaderError, match=r"faltan columnas: telefonos, vencimiento") as caught:
        await import_customer_list(engine, path, month=None, now_ms=0)
    assert "columnas desconocidas: 'fono', 'plan'" in str(caught.value)
    with pytest.raises(CsvHeaderError, match="vacío"):
        await import_customer_list(engine, write(tmp_path / "e.csv", ""), month=None, now_ms=0)


async def test_spanish_headers_semicolons_bom_and_several_phones(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    text = (
        "\ufeffContrato;Teléfonos;Servicio;Nombre;Fecha de vencimiento\n"
        "A-1;+591 71234567 / 2 345678;Televisión por Cable;José Pérez;28/03/2025\n"
    )
    path = write(tmp_path / "excel.csv", text)
    done = await import_customer_list(engine, path, month="2025-03", now_ms=0)
    assert done.customers == 1
    state = await load_state(engine, "2025-03")
    assert state.customers[0].phones == ("71234567", "2345678")
    assert state.customers[0].name == "José Pérez"


async def test_reimport_of_a_contract_already_in_the_campaign_is_refused(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await import_customer_list(
        engine, write(tmp_path / "a.csv", customer_list(3)), month=None, now_ms=0
    )
    both = customer_list(2, start=1002)  # C1002 is already there, C1003 is new
    with pytest.raises(CsvRowsError, match="línea 2: contrato C1002 ya está en la campaña 2025-03"):
        await import_customer_list(engine, write(tmp_path / "b.csv", both), month=None, now_ms=0)
    assert await _count(engine, customers_in_list) == 3


async def test_not_utf8_is_refused(engine: AsyncEngine, tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes((LIST_HEADER + "\nC1,71234567,TV,Jos\xe9,2025-03-28\n").encode("latin-1"))
    with pytest.raises(FileImportError, match="UTF-8"):
        await import_customer_list(engine, path, month=None, now_ms=0)


async def test_dnc_import_and_its_errors(engine: AsyncEngine, tmp_path: Path) -> None:
    path = write(
        tmp_path / "dnc.csv", "telefono,contrato,motivo\n71234567,,pidió no llamar\n,C9,\n"
    )
    assert await import_dnc(engine, path, now_ms=0) == (2, 0)
    assert await import_dnc(engine, path, now_ms=0) == (0, 2)
    bad = write(tmp_path / "bad.csv", "telefono,contrato,motivo\n99,,\n,,queja\n71234568,,\n")
    with pytest.raises(CsvRowsError) as caught:
        await import_dnc(engine, bad, now_ms=0)
    assert [str(e) for e in caught.value.errors] == [
        'línea 2: teléfono "99" inválido',
        "línea 3: sin teléfono ni contrato",
    ]
    assert await _count(engine, do_not_call) == 2


async def test_list_import_reports_customers_on_the_dnc_list(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await import_dnc(engine, write(tmp_path / "d.csv", "telefono\n70001001\n"), now_ms=0)
    done = await import_customer_list(
        engine, write(tmp_path / "l.csv", customer_list(3)), month=None, now_ms=0
    )
    assert done.on_dnc == 1  # C1001 has one phone, on the list; C1000's second phone is free


async def test_payments_import_is_idempotent_and_all_or_nothing(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    good = write(
        tmp_path / "p.csv",
        'contrato,fecha_pago,monto,referencia\nC1,2025-03-02,120.50,R1\nC2,03/03/2025,"99,00",R2\n',
    )
    assert await import_payments(engine, good, now_ms=0) == (2, 0)
    assert await import_payments(engine, good, now_ms=0) == (0, 2)
    bad = write(
        tmp_path / "b.csv",
        "contrato,fecha_pago,monto\nC3,2025-03-02,10\nC4,ayer,10\nC5,2025-03-02,-1\nC3,2025-03-02,10\n",
    )
    with pytest.raises(CsvRowsError) as caught:
        await import_payments(engine, bad, now_ms=0)
    assert [str(e) for e in caught.value.errors] == [
        'línea 3: fecha de pago "ayer" inválida (se espera AAAA-MM-DD o DD/MM/AAAA)',
        'línea 4: monto "-1" inválido',
        "línea 5: pago duplicado (igual a la línea 2)",
    ]
    assert await _count(engine, payments) == 2
