"""`centralita customers import FILE.csv`: validate the whole file, then load it at once.

The file is UTF-8 (a BOM is accepted) with a header row naming the columns, in any order:
    contract, name, segment     required
    phone, ci, services, address, notes   optional
`services` is a ';'-separated list. Every line is validated first; when one is wrong the
error names each bad line and its reason and nothing is imported. A valid file is written
in one transaction: rows whose contract already exists are replaced (or, with
`replace_all`, the table is emptied first).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.exceptions import CsvHeaderError, CsvRowsError, CustomerImportError, RowError
from ivr.schema import SEGMENTS, customers, metadata

REQUIRED: Final = ("contract", "name", "segment")
OPTIONAL: Final = ("phone", "ci", "services", "address", "notes")
_CHUNK = 500
_CONTRACT = re.compile(r"^\d{1,32}$")
_PHONE = re.compile(r"^[2-7]\d{6,7}$")
_CI = re.compile(r"^(\d{4,12})(?:[\s-]*[A-Za-z0-9]{1,3})?(?:\s+[A-Za-z]{2,3})?$")


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What an import wrote."""

    rows: int
    replaced_all: bool


def normalize_phone(raw: str) -> str:
    """Digits only, without the +591 country code; '' stays ''."""
    digits = re.sub(r"[\s().-]", "", raw)
    if digits.startswith("+591"):
        digits = digits[4:]
    elif digits.startswith("591") and len(digits) == 11:
        digits = digits[3:]
    return digits


def _row_to_values(row: dict[str, str]) -> dict[str, Any]:
    """Validate one row; raises ValueError with a reason a person can act on."""
    contract = row["contract"].strip()
    if not _CONTRACT.match(contract):
        raise ValueError(f"contract {contract!r} must be 1-32 digits")
    name = row["name"].strip()
    if not name or len(name) > 200:
        raise ValueError("name is empty or longer than 200 characters")
    segment = row["segment"].strip().lower()
    if segment not in SEGMENTS:
        raise ValueError(f"segment {segment!r} is not one of {', '.join(SEGMENTS)}")
    phone = normalize_phone(row.get("phone", ""))
    if phone and not _PHONE.match(phone):
        raise ValueError(f"phone {phone!r} is not a 7-digit landline or 8-digit mobile")
    ci_raw = row.get("ci", "").strip()
    ci = ""
    if ci_raw:
        match = _CI.match(ci_raw)
        if match is None:
            raise ValueError(f"ci {ci_raw!r} must start with 4-12 digits")
        ci = match.group(1)
    services = ";".join(s.strip() for s in row.get("services", "").split(";") if s.strip())
    return {
        "contract": contract,
        "name": name,
        "segment": segment,
        "phone": phone or None,
        "ci": ci or None,
        "services": services,
        "address": row.get("address", "").strip(),
        "notes": row.get("notes", "").strip(),
    }


def _records(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(first line number, fields) per CSV record; a decoding error names its line."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        last = 0
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError as exc:
                raise CustomerImportError(
                    f"line {last + 1}: not UTF-8 text, nothing imported"
                ) from exc
            except csv.Error as exc:
                raise CsvRowsError([RowError(last + 1, f"unreadable CSV: {exc}")]) from exc
            first, last = last + 1, reader.line_num
            yield first, fields


def parse_customers_csv(path: Path) -> list[dict[str, Any]]:
    """Read and validate the whole file; return the table rows or raise."""
    records = _records(path)
    header_line = next(((n, f) for n, f in records if any(x.strip() for x in f)), None)
    if header_line is None:
        raise CsvHeaderError("empty file: expected a header row")
    columns = [name.strip().lower() for name in header_line[1]]
    missing = [name for name in REQUIRED if name not in columns]
    unknown = [name for name in columns if name not in REQUIRED + OPTIONAL]
    duplicated = sorted({name for name in columns if columns.count(name) > 1})
    if missing or unknown or duplicated:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown column(s) {', '.join(repr(u) for u in unknown)}")
        if duplicated:
            parts.append(f"repeated column(s) {', '.join(duplicated)}")
        expected = ", ".join(REQUIRED + OPTIONAL)
        raise CsvHeaderError(f"header row: {'; '.join(parts)} (expected: {expected})")
    rows: list[dict[str, Any]] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for line, fields in records:
        if not any(x.strip() for x in fields):
            continue
        if len(fields) != len(columns):
            errors.append(RowError(line, f"expected {len(columns)} fields, found {len(fields)}"))
            continue
        try:
            values = _row_to_values(dict(zip(columns, fields, strict=True)))
        except ValueError as exc:
            errors.append(RowError(line, str(exc)))
            continue
        first = seen.setdefault(values["contract"], line)
        if first != line:
            errors.append(RowError(line, f"contract {values['contract']} repeats line {first}"))
            continue
        rows.append(values)
    if errors:
        raise CsvRowsError(errors)
    return rows


async def import_customers(
    engine: AsyncEngine, path: Path, *, replace_all: bool = False
) -> ImportSummary:
    """Validate `path` and write it in one transaction (all rows or none)."""
    rows = parse_customers_csv(path)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
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
