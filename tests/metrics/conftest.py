"""Fixtures of the metrics tests: databases loaded from the real captures."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.ingest import ingest_capture
from centralita.ami_listener.store import create_schema as create_ami_schema
from centralita.ami_listener.store import make_engine
from centralita.metrics.queue_log_import import import_queue_log, read_queue_log
from centralita.metrics.schema import create_schema

FIXTURES = Path(__file__).parent.parent / "fixtures"
CAPTURES = (
    "GIT-master-f0c1c1a7b7",
    "GIT-16-113871b5f5",
    "GIT-11-f3cdc37300",
    "edge-GIT-master-f0c1c1a7b7",
)
PBX = "lab"


async def load_capture(
    engine: AsyncEngine, name: str, *, ami: bool = True, ql: bool = True
) -> None:
    """Ingest a capture's AMI stream and import its queue_log into one database."""
    await create_ami_schema(engine)
    await create_schema(engine)
    if ami:
        await ingest_capture((FIXTURES / f"{name}-scenario.ami").read_bytes(), engine, PBX)
    if ql:
        text = read_queue_log(FIXTURES / f"{name}-queue_log")
        await import_queue_log(text, engine, pbx_id=PBX, source=name)


@pytest.fixture
async def engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    """An empty SQLite database with every schema."""
    eng = make_engine(sqlite_url)
    await create_ami_schema(eng)
    await create_schema(eng)
    yield eng
    await eng.dispose()


@pytest.fixture
async def any_engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """An empty database on SQLite and on PostgreSQL, with every schema."""
    eng = make_engine(db_url)
    await create_ami_schema(eng)
    await create_schema(eng)
    yield eng
    await eng.dispose()


@pytest.fixture
async def master_db(tmp_path: Path) -> str:
    """A SQLite database with the master capture's calls and queue_log (a file URL)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    engine = make_engine(url)
    await load_capture(engine, "GIT-master-f0c1c1a7b7")
    await engine.dispose()
    return url


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The CLI configures logging on the captured stderr: put the handlers back after."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    yield
    root.handlers[:] = saved
    root.setLevel(level)
