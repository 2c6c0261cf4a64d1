"""Database set-up: every package's tables, and Alembic migrations to head."""

from __future__ import annotations

import asyncio
import weakref
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ami_listener.schema import metadata as ingest_metadata

MIGRATIONS = Path(__file__).parent / "migrations"


def all_metadata() -> list[MetaData]:
    """The MetaData of every package that owns tables (one Alembic history for all)."""
    from campaigns.schema import metadata as campaign_metadata
    from console.schema import metadata as console_metadata
    from ivr.schema import metadata as ivr_metadata
    from metrics.schema import metadata as metrics_metadata

    return [ingest_metadata, ivr_metadata, metrics_metadata, campaign_metadata, console_metadata]


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


_MIGRATE_LOCK_ID = 8_214_019  # any constant: PostgreSQL advisory lock of the migration
# Alembic's context is process-global: one migration at a time per event loop.
_local_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


async def migrate(engine: AsyncEngine) -> None:
    """Bring the database schema to the newest revision (idempotent).

    Safe when several daemons start together on one database: on PostgreSQL the upgrade
    runs under a transaction-level advisory lock, so the second waits for the first and
    then finds nothing to do; within one process, calls are serialised.
    """

    def _upgrade(sync_conn: Any) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = sync_conn
        command.upgrade(cfg, "head")

    lock = _local_locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with lock, engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATE_LOCK_ID})
        await conn.run_sync(_upgrade)
