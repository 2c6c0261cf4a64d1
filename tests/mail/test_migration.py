"""Migration 0009 makes exactly the ``outbox`` table the code describes (both databases)."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.mail.schema import metadata


async def test_migrated_outbox_matches_the_table_definition(engine: AsyncEngine) -> None:
    def diff(sync_conn: Any) -> list[Any]:
        context = MigrationContext.configure(
            sync_conn,
            opts={"include_name": lambda name, kind, parent: kind != "table" or name == "outbox"},
        )
        return list(compare_metadata(context, metadata))

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []
