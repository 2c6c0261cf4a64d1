"""The customer directory: who is calling, by phone number, contract or CI.

`CustomerDirectory` is the interface the flows use. Implementations: `SqlCustomerDirectory`
(the `customers` table filled by `centralita customers import`), `HttpCustomerDirectory`
(a CRM over HTTP, in `directory_http.py`) and `StaticCustomerDirectory` (in memory).
Every implementation raises `DirectoryUnavailableError` when it cannot answer, never a
library error; "no such customer" is `None`.

`GuideSearch` is the agents' search in the telephone guides (procedures D and E): the
"telefonica" guide (Sistema Guiatel, service 104) and the "comercial" one (Guía
Comercial, 4200224). `HttpCustomerDirectory.search` asks the CRM (`GET /guia`);
`SqlCustomerDirectory.search` answers the "telefonica" guide from the `customers` table
(name, address or the number's first digits, without accents or case) and raises
`GuideNotConfiguredError` for the "comercial" one. A customer imported with `unlisted`
is an unpublished ("en reserva") number. An entry marked reserved never carries its
number (`GuideEntry.number` is empty), whatever the source sent: procedure D, step 3,
does not give it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Final, Literal, Protocol

import msgspec
from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from centralita.ivr.events import InputKind
from centralita.ivr.exceptions import DirectoryUnavailableError, GuideNotConfiguredError
from centralita.ivr.schema import SEGMENTS, customers


class Customer(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    """One customer contract."""

    contract: str
    name: str
    segment: str
    phone: str = ""
    ci: str = ""
    services: tuple[str, ...] = ()
    address: str = ""
    notes: str = ""


class CustomerDirectory(Protocol):
    """Look a customer up by one identifier."""

    async def lookup(self, kind: InputKind, value: str) -> Customer | None:
        """The customer with that phone/contract/CI, None when unknown.

        Raises:
            DirectoryUnavailableError: the directory cannot answer.
        """
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


GuideKind = Literal["telefonica", "comercial"]
GUIDES: Final[tuple[GuideKind, ...]] = ("telefonica", "comercial")
"""The guides an agent searches: "telefonica" (Guiatel, 104), "comercial" (4200224)."""
GUIDE_NAMES: Final[dict[str, str]] = {"telefonica": "Guiatel", "comercial": "Guía Comercial"}
MAX_GUIDE_RESULTS: Final = 50


class GuideEntry(msgspec.Struct, forbid_unknown_fields=False):
    """One entry of a guide. ``reserved`` ("en reserva"): the number is not given, and
    ``number`` is then always empty."""

    name: str
    number: str = ""
    address: str = ""
    locality: str = ""
    category: str = ""  # the commercial guide's heading (rubro); "" in the telephone one
    reserved: bool = msgspec.field(default=False, name="reservado")

    def __post_init__(self) -> None:
        if self.reserved:
            self.number = ""  # decoded from a CRM or built here: never kept


class GuideSearch(Protocol):
    """Search a guide by text (name, address, heading or the number's digits)."""

    source: str  # where the answers come from: "crm" or "clientes" (the customers table)

    async def search(self, guide: GuideKind, text: str, limit: int) -> list[GuideEntry]:
        """At most ``limit`` entries matching ``text``, in the source's order.

        Raises:
            DirectoryUnavailableError: the source cannot answer.
            GuideNotConfiguredError: this source has no such guide.
        """
        ...


def fold(text: str) -> str:
    """Lower case, without accents (ñ → n), blanks collapsed: the form searches compare."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.split())


# Spanish accented letters folded in SQL by replace() before lower(), the same on SQLite
# (whose lower() only knows ASCII) and PostgreSQL (no unaccent extension needed). Kept to
# Spanish's seven (each case): SQLite's parser refuses much deeper nesting.
_SQL_FOLDS: Final = tuple(
    (accented, plain)
    for plain, letters in (
        ("a", "áÁ"),
        ("e", "éÉ"),
        ("i", "íÍ"),
        ("o", "óÓ"),
        ("u", "úÚüÜ"),
        ("n", "ñÑ"),
    )
    for accented in letters
)
_DIGITS: Final = re.compile(r"^[\d\s-]+$")


def _folded(column: ColumnElement[str]) -> ColumnElement[str]:
    expr: ColumnElement[str] = func.coalesce(column, "")
    for accented, plain in _SQL_FOLDS:
        expr = func.replace(expr, accented, plain)
    return func.lower(expr)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _segment_rank(segment: str) -> int:
    return SEGMENTS.index(segment) if segment in SEGMENTS else len(SEGMENTS)


class StaticCustomerDirectory:
    """An in-memory directory (tests, demos)."""

    def __init__(self, items: Iterable[Customer]) -> None:
        self._items = sorted(items, key=lambda c: (_segment_rank(c.segment), c.contract))

    async def lookup(self, kind: InputKind, value: str) -> Customer | None:
        """First match, the most important segment first."""
        for item in self._items:
            if value and getattr(item, kind.value, None) == value:
                return item
        return None

    async def close(self) -> None:
        """Nothing to release."""


class SqlCustomerDirectory:
    """The `customers` table through SQLAlchemy (SQLite or PostgreSQL)."""

    def __init__(self, engine: AsyncEngine, *, owns_engine: bool = False) -> None:
        self._engine = engine
        self._owns_engine = owns_engine

    @classmethod
    def from_url(cls, url: str) -> SqlCustomerDirectory:
        """A directory on its own engine (closed by `close()`)."""
        return cls(create_async_engine(url, pool_pre_ping=True), owns_engine=True)

    async def lookup(self, kind: InputKind, value: str) -> Customer | None:
        """Query by the column of `kind`; for several rows (a CI) the top segment wins."""
        if kind is InputKind.NONE or not value:
            return None
        column = customers.c[kind.value]
        rank = case(
            {segment: index for index, segment in enumerate(SEGMENTS)},
            value=customers.c.segment,
            else_=len(SEGMENTS),
        )
        query = select(customers).where(column == value).order_by(rank, customers.c.contract)
        try:
            async with self._engine.connect() as conn:
                row = (await conn.execute(query.limit(1))).mappings().first()
        except (SQLAlchemyError, OSError) as exc:
            raise DirectoryUnavailableError(
                f"customers query failed: {type(exc).__name__}"
            ) from exc
        if row is None:
            return None
        return Customer(
            contract=row["contract"],
            name=row["name"],
            segment=row["segment"],
            phone=row["phone"] or "",
            ci=row["ci"] or "",
            services=tuple(s for s in row["services"].split(";") if s),
            address=row["address"],
            notes=row["notes"],
        )

    source = "clientes"

    async def search(self, guide: GuideKind, text: str, limit: int) -> list[GuideEntry]:
        """The "telefonica" guide from the customers with a phone: digits find the numbers
        starting with them; words find the customers whose name or address holds every
        one, without accents or case. Ordered by name; blank text finds nothing.

        Raises:
            GuideNotConfiguredError: "comercial" (the table is not the commercial guide).
            DirectoryUnavailableError: the query failed.
        """
        if guide != "telefonica":
            raise GuideNotConfiguredError(f"guide {guide!r} has no local source")
        wanted = text.strip()
        limit = max(1, min(limit, MAX_GUIDE_RESULTS))
        if not wanted:
            return []
        c = customers.c
        if _DIGITS.match(wanted):
            digits = re.sub(r"[\s-]", "", wanted)
            match: ColumnElement[bool] = c.phone.like(_like_escape(digits) + "%", escape="\\")
        else:
            haystack = _folded(c.name) + " " + _folded(c.address)
            match = and_(
                *(
                    haystack.like(f"%{_like_escape(word)}%", escape="\\")
                    for word in fold(wanted).split()
                )
            )
        query = (
            select(c.name, c.phone, c.address, c.unlisted)
            .where(c.phone.is_not(None), c.phone != "", match)
            .order_by(_folded(c.name), c.contract)
            .limit(limit)
        )
        try:
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        except (SQLAlchemyError, OSError) as exc:
            raise DirectoryUnavailableError(
                f"customers search failed: {type(exc).__name__}"
            ) from exc
        return [
            GuideEntry(
                name=r.name, number=r.phone, address=r.address or "", reserved=bool(r.unlisted)
            )
            for r in rows
        ]

    async def close(self) -> None:
        """Dispose of the engine when this directory created it."""
        if self._owns_engine:
            await self._engine.dispose()
