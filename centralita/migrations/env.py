"""Alembic environment: migrations run on a connection handed in by centralita.db,
or on a sync URL (``sqlalchemy.url``) for `alembic revision --autogenerate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from centralita.db import all_metadata

config = context.config
target_metadata = all_metadata()


def run() -> None:
    """Run migrations online."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()


run()
