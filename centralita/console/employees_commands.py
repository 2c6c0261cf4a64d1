"""`centralita employees import|list|search`: the employee directory (P_EMPLEADOS).

    employees import FILE.csv     replace the directory with the file's valid lines
    employees list                every entry
    employees search TEXTO        by name, area or position (no accents or case), or interno

The database URL comes from the one ``--db`` option of every command
(`centralita.metrics.commands.add_db_option`: ``--db``, else ``$CENTRALITA_DB_URL``, else
``sqlite+aiosqlite:///centralita.db``). ``import`` exits 0 when every line was imported,
1 when some lines were refused (the others imported) and 2 when nothing changed (no
such file, wrong header, no valid line).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from centralita.metrics.commands import (
    add_db_option,
    database_url,
    read_head,
    whole_number,
    wrong_kind,
)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `employees import`, `employees list` and `employees search`."""
    employees = subparsers.add_parser(
        "employees", help="directorio de internos del personal (P_EMPLEADOS)"
    )
    sub = employees.add_subparsers(dest="employees_command", metavar="ACCION", required=True)
    imp = sub.add_parser(
        "import",
        help="reemplazar el directorio con las líneas válidas de un CSV",
        description="Columnas: nombre, area (obligatorias); cargo, interno, telefono, correo. "
        "Cada línea necesita interno o teléfono. Las líneas inválidas se rechazan con su "
        "número y motivo; las demás reemplazan el directorio entero.",
    )
    imp.add_argument("file", metavar="FILE.csv", type=Path, help="CSV UTF-8 con encabezado")
    add_db_option(imp)
    imp.set_defaults(func=_cmd_import)
    lst = sub.add_parser("list", help="listar todo el directorio")
    add_db_option(lst)
    lst.set_defaults(func=_cmd_list)
    search = sub.add_parser("search", help="buscar por nombre, área, cargo o interno")
    search.add_argument("text", metavar="TEXTO", help="palabras (sin importar tildes) o dígitos")
    search.add_argument(
        "--limit", type=whole_number(1), default=50, metavar="N", help="máximo de resultados"
    )
    add_db_option(search)
    search.set_defaults(func=_cmd_search)


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _run(args: argparse.Namespace, work: Callable[[Any], Awaitable[int]]) -> int:
    async def main() -> int:
        # The CLI's opener: the schema at its newest revision (Alembic) before any work.
        open_db: Callable[[str], Awaitable[Any]] = args.open_db
        engine = await open_db(database_url(args.db))
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _cmd_import(args: argparse.Namespace) -> int:
    from centralita.console.employee_import import import_employees
    from centralita.console.exceptions import EmployeeImportError

    if not args.file.is_file():
        _err(f"{args.file}: el archivo no existe; indique la ruta del CSV de empleados")
        return 2
    refusal = wrong_kind(args.file, read_head(args.file), "csv")
    if refusal is not None:  # an AMI capture, a queue_log or a TOML file given by mistake
        _err(refusal)
        return 2

    async def work(engine: Any) -> int:
        try:
            done = await import_employees(engine, args.file)
        except EmployeeImportError as exc:
            _err(f"{args.file}: {exc}")
            for refused in exc.refused:
                _err(f"  {args.file}:{refused.line}: {refused.reason}")
            return 2
        sys.stdout.write(f"{args.file}: {done.imported} empleado(s) importado(s)\n")
        if not done.refused:
            return 0
        _err(
            f"{args.file}: {len(done.refused)} línea(s) rechazada(s); corríjalas e importe de nuevo"
        )
        for refused in done.refused:
            _err(f"  {args.file}:{refused.line}: {refused.reason}")
        return 1

    return _run(args, work)


def _print(found: list[Any]) -> None:
    """An aligned table for a person (not a file to open in a spreadsheet)."""
    header = ("INTERNO", "TELÉFONO", "NOMBRE", "ÁREA", "CARGO", "CORREO")
    rows = [(e.extension or "", e.phone or "", e.name, e.area, e.position, e.email) for e in found]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        sys.stdout.write(line.rstrip() + "\n")


def _cmd_list(args: argparse.Namespace) -> int:
    from centralita.console.employees import list_employees

    async def work(engine: Any) -> int:
        found = await list_employees(engine)
        if not found:
            _err("el directorio está vacío; cárguelo con `centralita employees import FILE.csv`")
            return 1
        _print(found)
        return 0

    return _run(args, work)


def _cmd_search(args: argparse.Namespace) -> int:
    from centralita.console.employees import search_employees

    async def work(engine: Any) -> int:
        found = await search_employees(engine, args.text, limit=args.limit)
        if not found:
            _err(f"ningún empleado coincide con «{args.text}»")
            return 1
        _print(found)
        return 0

    return _run(args, work)
