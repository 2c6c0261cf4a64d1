"""Reading the supervisors' CSV files: header aliases, per-line errors (pure but for the read).

Files are UTF-8 (a BOM is accepted; Excel's "CSV UTF-8"), comma or semicolon separated
(sniffed from the header line). Column names are matched without case or accents, so
``Teléfono``, ``telefono`` and ``TELEFONO`` are the same column.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from centralita.campaigns.exceptions import CsvHeaderError, CsvRowsError, FileImportError
from centralita.ivr.csvtext import CsvTextError, RowError, csv_records, normalize_phone

_PHONE = re.compile(r"^[2-7]\d{6,7}$")
_CONTRACT = re.compile(r"^[A-Za-z0-9-]{1,32}$")


def simplify(text: str) -> str:
    """Lower case, no accents, no surrounding blanks, inner blanks as ``_``."""
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[\s-]+", "_", plain)


def parse_phone(raw: str) -> str:
    """A valid Bolivian number (7-digit landline, 8-digit mobile) or ValueError."""
    phone = normalize_phone(raw)
    if not _PHONE.match(phone):
        raise ValueError(f'teléfono "{raw.strip()}" inválido')
    return phone


def parse_contract(raw: str) -> str:
    """A contract number (1-32 letters, digits or dashes) or ValueError."""
    contract = raw.strip()
    if not _CONTRACT.match(contract):
        raise ValueError(f'contrato "{contract}" inválido')
    return contract


def parse_date(raw: str, what: str) -> date:
    """``AAAA-MM-DD`` or ``DD/MM/AAAA`` (also ``DD-MM-AAAA``) or ValueError."""
    text = raw.strip().split(" ")[0].split("T")[0]
    try:
        if re.match(r"^\d{4}-\d{2}-\d{2}$", text):
            return date.fromisoformat(text)
        match = re.match(r"^(\d{1,2})[/-](\d{1,2})[/-](\d{4})$", text)
        if match:
            return date(int(match.group(3)), int(match.group(2)), int(match.group(1)))
    except ValueError:
        pass
    raise ValueError(f'{what} "{raw.strip()}" inválida (se espera AAAA-MM-DD o DD/MM/AAAA)')


@dataclass(frozen=True, slots=True)
class Columns:
    """The columns a file must and may have: canonical name → accepted spellings."""

    required: Mapping[str, tuple[str, ...]]
    optional: Mapping[str, tuple[str, ...]]

    def resolve(self, header: list[str]) -> list[str | None]:
        """Canonical name of each header cell; raises CsvHeaderError naming every problem."""
        lookup: dict[str, str] = {}
        for name, aliases in {**self.required, **self.optional}.items():
            for alias in (name, *aliases):
                lookup[simplify(alias)] = name
        names = [lookup.get(simplify(cell)) for cell in header]
        problems: list[str] = []
        unknown = [cell for cell, name in zip(header, names, strict=True) if name is None]
        missing = [name for name in self.required if name not in names]
        repeated = sorted({n for n in names if n is not None and names.count(n) > 1})
        if missing:
            problems.append(f"faltan columnas: {', '.join(missing)}")
        if unknown:
            problems.append(f"columnas desconocidas: {', '.join(repr(u) for u in unknown)}")
        if repeated:
            problems.append(f"columnas repetidas: {', '.join(repeated)}")
        if problems:
            expected = ", ".join([*self.required, *(f"[{o}]" for o in self.optional)])
            raise CsvHeaderError(
                f"fila de encabezado: {'; '.join(problems)} (se espera: {expected})"
            )
        return names


def _records(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) per CSV record; unreadable files name their line."""
    try:
        yield from csv_records(path)
    except CsvTextError as exc:
        if exc.kind == "csv":
            raise CsvRowsError([RowError(exc.line, exc.reason)]) from exc
        if exc.kind == "encoding":
            raise FileImportError(
                f"{path.name}: el archivo no es texto UTF-8 (línea {exc.line}), no se importó nada"
            ) from exc
        raise FileImportError(f"{path}: no se puede leer ({exc.reason})") from exc


def read_rows(path: Path, columns: Columns) -> list[tuple[int, dict[str, str]]]:
    """Every non-blank data line as (line number, canonical column → text).

    Lines with the wrong number of fields are reported all together (CsvRowsError).
    """
    records = _records(path)
    header = next(((n, f) for n, f in records if any(x.strip() for x in f)), None)
    if header is None:
        raise CsvHeaderError("archivo vacío: falta la fila de encabezado")
    names = columns.resolve(header[1])
    rows: list[tuple[int, dict[str, str]]] = []
    errors: list[RowError] = []
    for line, fields in records:
        if not any(x.strip() for x in fields):
            continue
        if len(fields) != len(names):
            errors.append(RowError(line, f"se esperan {len(names)} campos, hay {len(fields)}"))
            continue
        rows.append((line, {n: v for n, v in zip(names, fields, strict=True) if n is not None}))
    if errors:
        raise CsvRowsError(errors)
    return rows
