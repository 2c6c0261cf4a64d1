"""Campaign test helpers: CSV writers and engines on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ami_listener.store import make_engine
from campaigns.schema import create_schema

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


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine with the campaign tables, once on SQLite and once on PostgreSQL."""
    eng = make_engine(db_url)
    await create_schema(eng)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
async def sqlite_engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine with the campaign tables on SQLite only (the long dialer runs)."""
    eng = make_engine(sqlite_url)
    await create_schema(eng)
    try:
        yield eng
    finally:
        await eng.dispose()
