"""The customer directory: who is calling, by phone number, contract or CI.

`CustomerDirectory` is the interface the flows use. Implementations: `SqlCustomerDirectory`
(the `customers` table filled by `centralita customers import`), `HttpCustomerDirectory`
(a CRM over HTTP, in `directory_http.py`) and `StaticCustomerDirectory` (in memory).
Every implementation raises `DirectoryUnavailableError` when it cannot answer, never a
library error; "no such customer" is `None`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import msgspec
from sqlalchemy import case, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ivr.events import InputKind
from ivr.exceptions import DirectoryUnavailableError
from ivr.schema import SEGMENTS, customers


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

    async def close(self) -> None:
        """Dispose of the engine when this directory created it."""
        if self._owns_engine:
            await self._engine.dispose()
