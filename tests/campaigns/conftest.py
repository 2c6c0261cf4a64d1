"""Campaign test helpers: CSV writers, La Paz times and engines on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.store import create_schema as create_ingest_schema
from centralita.ami_listener.store import make_engine
from centralita.campaigns.schema import metadata as campaign_metadata
from centralita.campaigns.window import LA_PAZ, CallingHours, calling_hours
from centralita.routing import RoutingTable, default_routing_path, parse_routing


def lp(*args: int) -> datetime:
    """A La Paz wall-clock time: ``lp(2025, 3, 24, 19, 0)``."""
    return datetime(*args, tzinfo=LA_PAZ)  # type: ignore[arg-type,misc]


LIST_HEADER = "contrato,telefonos,servicio,nombre,vencimiento"

SHIPPED_WINDOWS = """windows = [               # EXAMPLE daytime hours
    { days = ["mon", "tue", "wed", "thu", "fri"], from = "08:30", until = "19:00" },
    { days = ["sat"], from = "09:00", until = "13:00" },
]"""


def routing_text(windows: str | None = None, holidays: dict[str, str] | None = None) -> str:
    """The shipped routing.toml, with prepago's campaign ``windows = [...]`` replaced by
    `windows` and `holidays` (``{"2025-03-03": "Carnaval"}``) added to its list."""
    text = default_routing_path().read_text(encoding="utf-8")
    assert SHIPPED_WINDOWS in text
    if windows is not None:
        text = text.replace(SHIPPED_WINDOWS, windows)
    for day, name in (holidays or {}).items():
        text += f'\n[[holiday]]\ndate = {day}\nname = "{name}"\n'
    return text


def routing_table(
    windows: str | None = None, holidays: dict[str, str] | None = None
) -> RoutingTable:
    """:func:`routing_text` as a validated table."""
    return parse_routing(routing_text(windows, holidays), "routing.toml")


def hours_of(windows: str | None = None, holidays: dict[str, str] | None = None) -> CallingHours:
    """prepago's calling hours in :func:`routing_table` (the shipped ones by default:
    Monday to Friday 08:30-19:00, Saturday 09:00-13:00, the 2026 holidays)."""
    return calling_hours(routing_table(windows, holidays), "prepago")


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


async def create_campaign_tables(engine: AsyncEngine) -> None:
    """The campaign tables alone (the CLI and the daemon make them by migrating)."""
    async with engine.begin() as conn:
        await conn.run_sync(campaign_metadata.create_all)


@contextlib.asynccontextmanager
async def opened(url: str, *, with_log: bool = False) -> AsyncIterator[AsyncEngine]:
    """An engine with the campaign tables (and the event log's, ``with_log``)."""
    eng = make_engine(url)
    if with_log:
        await create_ingest_schema(eng)
    await create_campaign_tables(eng)
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
