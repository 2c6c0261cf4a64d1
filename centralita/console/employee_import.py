"""`centralita employees import FILE.csv`: load the employee directory (P_EMPLEADOS).

The file is UTF-8 (a BOM is accepted: Excel's "CSV UTF-8"), comma or semicolon separated
(sniffed from the header line), with a header row naming the columns in any order;
names are matched without case or accents, Spanish or English:

    nombre     name, funcionario, empleado        required
    area       área, gerencia, unidad, department  required
    cargo      position, puesto                    optional
    interno    extension, anexo                    2 to 6 digits
    telefono   teléfono, phone, celular            7-digit landline or 8-digit mobile
    correo     email, e-mail                       optional

Every entry needs an ``interno`` or a ``telefono`` (the agent transfers to one of them).

Replace-all: each import replaces the whole directory with the file's valid lines, in one
transaction, so an entry removed from the file leaves the directory. Invalid lines are
refused one by one (line number and reason, in Spanish) and the others are imported.
Nothing changes when the file cannot be read, its header is wrong, or no line is valid:
an empty or broken file never empties the directory.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.console.employees import employees, fold, search_key
from centralita.console.exceptions import EmployeeImportError, RefusedLine
from centralita.ivr.csvtext import CsvTextError, csv_records, normalize_phone

COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "nombre": ("name", "funcionario", "empleado", "nombre_completo"),
    "area": ("gerencia", "unidad", "departamento", "department", "dependencia"),
    "cargo": ("position", "puesto", "title"),
    "interno": ("extension", "anexo", "ext"),
    "telefono": ("phone", "celular", "telefono_directo"),
    "correo": ("email", "e_mail", "correo_electronico", "mail"),
}
REQUIRED: Final = ("nombre", "area")
MAX_TEXT: Final = 200
_EXTENSION = re.compile(r"^\d{2,6}$")
_PHONE = re.compile(r"^[2-7]\d{6,7}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class EmployeeImport:
    """What an import did: the rows written and the lines refused."""

    imported: int
    refused: tuple[RefusedLine, ...]


def _simplify(text: str) -> str:
    return re.sub(r"[\s-]+", "_", fold(text.strip()))


def _records(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(first line number, fields) per CSV record."""
    try:
        yield from csv_records(path)
    except CsvTextError as exc:
        if exc.kind == "csv":
            raise EmployeeImportError(
                f"línea {exc.line}: {exc.reason}; no se importó nada"
            ) from exc
        if exc.kind == "encoding":
            raise EmployeeImportError(
                f"el archivo no es texto UTF-8 (línea {exc.line}; guárdelo como «CSV UTF-8»); "
                "no se importó nada"
            ) from exc
        raise EmployeeImportError(f"no se puede leer el archivo ({exc.reason})") from exc


def _header(fields: list[str]) -> list[str | None]:
    """The canonical name of each header cell, or EmployeeImportError naming every problem."""
    lookup = {_simplify(alias): name for name, aliases in COLUMNS.items() for alias in aliases}
    lookup.update({name: name for name in COLUMNS})
    names = [lookup.get(_simplify(cell)) for cell in fields]
    problems: list[str] = []
    missing = [name for name in REQUIRED if name not in names]
    unknown = [cell for cell, name in zip(fields, names, strict=True) if name is None]
    repeated = sorted({n for n in names if n is not None and names.count(n) > 1})
    if missing:
        problems.append(f"faltan columnas: {', '.join(missing)}")
    if unknown:
        problems.append(f"columnas desconocidas: {', '.join(repr(u) for u in unknown)}")
    if repeated:
        problems.append(f"columnas repetidas: {', '.join(repeated)}")
    if problems:
        expected = ", ".join(f"[{n}]" if n not in REQUIRED else n for n in COLUMNS)
        raise EmployeeImportError(
            f"fila de encabezado: {'; '.join(problems)} (se espera: {expected}); no se importó nada"
        )
    return names


def _text(row: dict[str, str], column: str, *, required: bool) -> str:
    value = " ".join(row.get(column, "").split())
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise ValueError(f"{column} tiene caracteres de control; escríbalo como texto simple")
    if required and not value:
        raise ValueError(f"falta {column}")
    if len(value) > MAX_TEXT:
        raise ValueError(f"{column} tiene más de {MAX_TEXT} caracteres")
    return value


def row_values(row: dict[str, str], line: int) -> dict[str, Any]:
    """One line's table row; ValueError with a reason in Spanish when it is wrong."""
    name = _text(row, "nombre", required=True)
    area = _text(row, "area", required=True)
    position = _text(row, "cargo", required=False)
    extension = re.sub(r"[\s-]", "", row.get("interno", ""))
    if extension and not _EXTENSION.match(extension):
        raise ValueError(f"interno «{row['interno'].strip()}» inválido: se esperan 2 a 6 dígitos")
    phone = normalize_phone(row.get("telefono", ""))
    if phone and not _PHONE.match(phone):
        raise ValueError(
            f"teléfono «{row['telefono'].strip()}» inválido:"
            " se espera un fijo de 7 dígitos o un celular de 8"
        )
    if not extension and not phone:
        raise ValueError("falta el interno o el teléfono: sin ellos no se puede derivar")
    email = _text(row, "correo", required=False)
    if email and (not _EMAIL.match(email) or len(email) > 254):
        raise ValueError(f"correo «{email}» inválido")
    return {
        "name": name,
        "area": area,
        "position": position,
        "extension": extension or None,
        "phone": phone or None,
        "email": email,
        "search_key": search_key(name, area, position),
        "source_line": line,
    }


def parse_employees_csv(path: Path) -> tuple[list[dict[str, Any]], list[RefusedLine]]:
    """The valid rows and the refused lines of `path`.

    Raises:
        EmployeeImportError: the file cannot be read or its header row is wrong.
    """
    records = _records(path)
    header = next(((n, f) for n, f in records if any(x.strip() for x in f)), None)
    if header is None:
        raise EmployeeImportError("archivo vacío: falta la fila de encabezado")
    names = _header(header[1])
    rows: list[dict[str, Any]] = []
    refused: list[RefusedLine] = []
    seen: dict[tuple[str, str | None], int] = {}
    for line, fields in records:
        if not any(x.strip() for x in fields):
            continue
        if len(fields) != len(names):
            refused.append(RefusedLine(line, f"se esperan {len(names)} campos, hay {len(fields)}"))
            continue
        row = {n: v for n, v in zip(names, fields, strict=True) if n is not None}
        try:
            values = row_values(row, line)
        except ValueError as exc:
            refused.append(RefusedLine(line, str(exc)))
            continue
        key = (fold(values["name"]), values["extension"] or values["phone"])
        first = seen.setdefault(key, line)
        if first != line:
            refused.append(RefusedLine(line, f"repite la línea {first} (mismo nombre e interno)"))
            continue
        rows.append(values)
    return rows, refused


async def import_employees(engine: AsyncEngine, path: Path) -> EmployeeImport:
    """Replace the directory with the valid lines of `path`, in one transaction.

    Raises:
        EmployeeImportError: the file cannot be used (unreadable, wrong header, no valid
            line; `.refused` keeps the refused lines): the directory is left as it was.
    """
    rows, refused = parse_employees_csv(path)
    if not rows:
        raise EmployeeImportError(
            "ninguna línea válida; el directorio no se modificó", refused=tuple(refused)
        )
    async with engine.begin() as conn:
        await conn.execute(sa.delete(employees))
        for start in range(0, len(rows), _CHUNK):
            await conn.execute(sa.insert(employees), rows[start : start + _CHUNK])
    return EmployeeImport(imported=len(rows), refused=tuple(refused))
