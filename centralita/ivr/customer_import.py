"""`centralita customers import FILE.csv`: validate the whole file, then load it at once.

The file is UTF-8 (a BOM is accepted) with a header row naming the columns, in any order:
    contract, name, segment     required
    phone, ci, services, address, notes, unlisted   optional
`services` is a ';'-separated list. `unlisted` marks a number "en reserva" (procedure D:
the 104 guide does not give it): sí/si/s/1/true/x, or no/n/0/false/empty.
Every line is validated first; when one is wrong the error names each bad line and its
reason and nothing is imported. A valid file is written in one transaction: rows whose
contract already exists are replaced (or, with `replace_all`, the table is emptied first).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ivr.csvtext import CsvTextError, RowError, csv_records, normalize_phone
from centralita.ivr.exceptions import CsvHeaderError, CsvRowsError, CustomerImportError
from centralita.ivr.schema import SEGMENTS, customers

REQUIRED: Final = ("contract", "name", "segment")
OPTIONAL: Final = ("phone", "ci", "services", "address", "notes", "unlisted")
_YES: Final = frozenset({"sí", "si", "s", "1", "true", "x", "reserva", "en reserva"})
_NO: Final = frozenset({"", "no", "n", "0", "false"})
_CHUNK = 500
_CONTRACT = re.compile(r"^\d{1,32}$")
_PHONE = re.compile(r"^[2-7]\d{6,7}$")
_CI = re.compile(r"^(\d{4,12})(?:[\s-]*[A-Za-z0-9]{1,3})?(?:\s+[A-Za-z]{2,3})?$")


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What an import wrote."""

    rows: int
    replaced_all: bool


def _row_to_values(row: dict[str, str]) -> dict[str, Any]:
    """Validate one row; raises ValueError with a reason a person can act on (Spanish)."""
    contract = row["contract"].strip()
    if not _CONTRACT.match(contract):
        raise ValueError(f"el contrato «{contract}» debe tener de 1 a 32 dígitos")
    name = row["name"].strip()
    if not name or len(name) > 200:
        raise ValueError("el nombre está vacío o tiene más de 200 caracteres")
    segment = row["segment"].strip().lower()
    if segment not in SEGMENTS:
        raise ValueError(f"el segmento «{segment}» no es uno de {', '.join(SEGMENTS)}")
    phone = normalize_phone(row.get("phone", ""))
    if phone and not _PHONE.match(phone):
        raise ValueError(f"el teléfono «{phone}» no es un fijo de 7 dígitos ni un celular de 8")
    ci_raw = row.get("ci", "").strip()
    ci = ""
    if ci_raw:
        match = _CI.match(ci_raw)
        if match is None:
            raise ValueError(f"el CI «{ci_raw}» debe empezar con 4 a 12 dígitos")
        ci = match.group(1)
    services = ";".join(s.strip() for s in row.get("services", "").split(";") if s.strip())
    unlisted_raw = row.get("unlisted", "").strip().lower()
    if unlisted_raw not in _YES | _NO:
        raise ValueError(f"unlisted «{unlisted_raw}» debe ser sí o no (número en reserva)")
    return {
        "contract": contract,
        "name": name,
        "segment": segment,
        "phone": phone or None,
        "ci": ci or None,
        "services": services,
        "address": row.get("address", "").strip(),
        "notes": row.get("notes", "").strip(),
        "unlisted": unlisted_raw in _YES,
    }


def _records(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(first line number, fields) per CSV record; a decoding error names its line."""
    try:
        yield from csv_records(path)
    except CsvTextError as exc:
        if exc.kind == "csv":
            raise CsvRowsError([RowError(exc.line, exc.reason)]) from exc
        where = f"línea {exc.line}: " if exc.line else ""
        raise CustomerImportError(f"{where}{exc.reason}, no se importó nada") from exc


def parse_customers_csv(path: Path) -> list[dict[str, Any]]:
    """Read and validate the whole file; return the table rows or raise."""
    records = _records(path)
    header_line = next(((n, f) for n, f in records if any(x.strip() for x in f)), None)
    if header_line is None:
        raise CsvHeaderError("archivo vacío: falta la fila de encabezado")
    columns = [name.strip().lower() for name in header_line[1]]
    missing = [name for name in REQUIRED if name not in columns]
    unknown = [name for name in columns if name not in REQUIRED + OPTIONAL]
    duplicated = sorted({name for name in columns if columns.count(name) > 1})
    if missing or unknown or duplicated:
        parts = []
        if missing:
            many = len(missing) > 1
            parts.append(
                f"{'faltan las columnas' if many else 'falta la columna'} {', '.join(missing)}"
            )
        if unknown:
            many = len(unknown) > 1
            parts.append(
                f"{'columnas desconocidas' if many else 'columna desconocida'} "
                + ", ".join(f"«{u}»" for u in unknown)
            )
        if duplicated:
            many = len(duplicated) > 1
            parts.append(
                f"{'columnas repetidas' if many else 'columna repetida'} {', '.join(duplicated)}"
            )
        expected = ", ".join(REQUIRED + OPTIONAL)
        raise CsvHeaderError(f"fila de encabezado: {'; '.join(parts)} (se esperan: {expected})")
    rows: list[dict[str, Any]] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for line, fields in records:
        if not any(x.strip() for x in fields):
            continue
        if len(fields) != len(columns):
            errors.append(RowError(line, f"se esperan {len(columns)} campos, hay {len(fields)}"))
            continue
        try:
            values = _row_to_values(dict(zip(columns, fields, strict=True)))
        except ValueError as exc:
            errors.append(RowError(line, str(exc)))
            continue
        first = seen.setdefault(values["contract"], line)
        if first != line:
            errors.append(
                RowError(line, f"el contrato {values['contract']} repite el de la línea {first}")
            )
            continue
        rows.append(values)
    if errors:
        raise CsvRowsError(errors)
    return rows


async def import_customers(
    engine: AsyncEngine, path: Path, *, replace_all: bool = False
) -> ImportSummary:
    """Validate `path` and write it in one transaction (all rows or none).

    The table must exist (``centralita db-migrate``; the CLI migrates before it calls).
    """
    rows = parse_customers_csv(path)
    async with engine.begin() as conn:
        if replace_all:
            await conn.execute(delete(customers))
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start : start + _CHUNK]
            if not replace_all:
                contracts = [row["contract"] for row in chunk]
                await conn.execute(delete(customers).where(customers.c.contract.in_(contracts)))
            await conn.execute(insert(customers), chunk)
    return ImportSummary(rows=len(rows), replaced_all=replace_all)
