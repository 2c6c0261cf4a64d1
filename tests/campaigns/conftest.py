"""Campaign test helpers: CSV writers, La Paz times and engines on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ami_listener.store import create_schema as create_ingest_schema
from ami_listener.store import make_engine
from campaigns.schema import create_schema
from campaigns.window import LA_PAZ


def lp(*args: int) -> datetime:
    """A La Paz wall-clock time: ``lp(2025, 3, 24, 19, 0)``."""
    return datetime(*args, tzinfo=LA_PAZ)  # type: ignore[arg-type,misc]


LIST_HEADER = "contrato,telefonos,servicio,nombre,vencimiento"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def customer_list(n: int, month: str = "2025-03", start: int = 1000) -> str:
    """A valid list of `n` customers, half TV Cable, half Internet, two phones each third."""
    lines = [LIST_HEADER]
    for i in range(n):
        phones = f"7{start + i:07d}"
        if i % 3 == 0:
            phones += f";2{start + i:06d}"
        service = "TV Cable" if i % 2 == 0 else "Internet"
        lines.append(f"C{start + i},{phones},{service},Cliente {i},{month}-28")
    return "\n".join(lines) + "\n"


@contextlib.asynccontextmanager
async def opened(url: str, *, with_log: bool = False) -> AsyncIterator[AsyncEngine]:
    """An engine with the campaign tables (and the event log's, ``with_log``)."""
    eng = make_engine(url)
    if with_log:
        await create_ingest_schema(eng)
    await create_schema(eng)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine with the campaign tables, once on SQLite and once on PostgreSQL."""
    async with opened(db_url) as eng:
        yield eng


@pytest.fixture
async def sqlite_engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine with the campaign tables on SQLite only (the long dialer runs)."""
    async with opened(sqlite_url) as eng:
        yield eng


@pytest.fixture
async def logged_engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """Campaign tables and the event log, on SQLite and on PostgreSQL."""
    async with opened(db_url, with_log=True) as eng:
        yield eng


@pytest.fixture
async def db(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    """Campaign tables and the event log, on SQLite (the simulator runs)."""
    async with opened(sqlite_url, with_log=True) as eng:
        yield eng
