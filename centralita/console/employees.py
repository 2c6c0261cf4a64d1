"""The employee directory (the procedure's P_EMPLEADOS): who answers on which internal.

Service 4251000 is the cooperative's switchboard: the agent asks whom the caller wants,
looks the person or the area up here and transfers the call to that internal extension
(or to the direct phone when there is no internal). The table is loaded whole from a CSV
file by ``centralita employees import`` (`centralita.console.employee_import`): each
import replaces the directory. The console's transfer searches it with
`search_employees`, without accents or case ("gomez" finds "Gómez", "tecnica" finds
"Gerencia Técnica"), or by the digits of an extension.

Its own ``MetaData`` (registered in `centralita.db.all_metadata`); created by migration
0007.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.ext.asyncio import AsyncEngine

metadata = MetaData()

employees = Table(
    "employees",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("area", String(200), nullable=False, comment="gerencia, departamento o unidad"),
    Column("position", String(200), nullable=False, default="", comment="cargo"),
    Column("extension", String(16), nullable=True, comment="interno de la central"),
    Column("phone", String(16), nullable=True, comment="teléfono directo o celular"),
    Column("email", String(254), nullable=False, default=""),
    Column("search_key", Text, nullable=False, comment="name, area, position folded"),
    Column("source_line", Integer, nullable=False, comment="line of the imported CSV"),
)
Index("ix_employees_extension", employees.c.extension)

DEFAULT_LIMIT: Final = 50
_DIGITS = re.compile(r"^[\d\s-]+$")


@dataclass(frozen=True, slots=True)
class Employee:
    """One entry of the directory, as the agent sees it."""

    name: str
    area: str
    position: str
    extension: str | None
    phone: str | None
    email: str


def fold(text: str) -> str:
    """Lower case, without accents (ñ → n), blanks collapsed: the form searches compare."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.split())


def search_key(name: str, area: str, position: str) -> str:
    """The folded text a search looks into (one field: name, area and position)."""
    return " | ".join(fold(part) for part in (name, area, position))


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _employee(row: Any) -> Employee:
    return Employee(
        name=row.name,
        area=row.area,
        position=row.position,
        extension=row.extension,
        phone=row.phone,
        email=row.email,
    )


_COLUMNS = (
    employees.c.name,
    employees.c.area,
    employees.c.position,
    employees.c.extension,
    employees.c.phone,
    employees.c.email,
)


async def list_employees(engine: AsyncEngine) -> list[Employee]:
    """The whole directory, by name (compared without accents or case)."""
    query = sa.select(*_COLUMNS).order_by(employees.c.search_key, employees.c.id)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [_employee(row) for row in rows]


async def search_employees(
    engine: AsyncEngine, text: str, *, limit: int = DEFAULT_LIMIT
) -> list[Employee]:
    """Entries matching `text`, best first (at most `limit`).

    Digits (blanks and dashes allowed) look for an extension starting with them, or a
    phone equal to them; exact extensions come first. Any other text is split in words
    and an entry matches when every word is in its name, area or position, compared
    without accents or case. Blank text matches nothing.
    """
    wanted = text.strip()
    if not wanted:
        return []
    if _DIGITS.match(wanted):
        digits = re.sub(r"[\s-]", "", wanted)
        query = (
            sa.select(*_COLUMNS)
            .where(
                sa.or_(
                    employees.c.extension.like(_like_escape(digits) + "%", escape="\\"),
                    employees.c.phone == digits,
                )
            )
            .order_by(
                sa.case((employees.c.extension == digits, 0), else_=1),
                employees.c.extension,
                employees.c.search_key,
            )
        )
    else:
        words: Sequence[str] = fold(wanted).split()
        query = (
            sa.select(*_COLUMNS)
            .where(
                *(
                    employees.c.search_key.like(f"%{_like_escape(word)}%", escape="\\")
                    for word in words
                )
            )
            .order_by(employees.c.search_key, employees.c.id)
        )
    async with engine.connect() as conn:
        rows = (await conn.execute(query.limit(limit))).all()
    return [_employee(row) for row in rows]
