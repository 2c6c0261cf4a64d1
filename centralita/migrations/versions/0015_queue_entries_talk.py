"""queue_entries.talk_ms and ql_queue_entries.talk_ms: each answered stay's own talk

A transferred call talked to more than one agent; the call's talk_ms is their sum, and
the supervisor's per-agent figures need each agent's part.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 17:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TABLES = ("queue_entries", "ql_queue_entries")
CALLS = {"queue_entries": "calls", "ql_queue_entries": "ql_calls"}


def upgrade() -> None:
    """Apply. A stored call answered in one stay only gets its talk on that stay; a call
    transferred before this version has no per-stay talk (not known: left NULL)."""
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("talk_ms", sa.BigInteger(), nullable=True))
        calls = CALLS[table]
        # the two table names are this file's constants
        op.execute(
            f"UPDATE {table} SET talk_ms = (SELECT c.talk_ms FROM {calls} c"  # noqa: S608
            f" WHERE c.pbx_id = {table}.pbx_id AND c.uniqueid = {table}.uniqueid)"
            f" WHERE answered_at_ms IS NOT NULL AND (SELECT count(*) FROM {table} s"
            f" WHERE s.pbx_id = {table}.pbx_id AND s.uniqueid = {table}.uniqueid"
            " AND s.answered_at_ms IS NOT NULL) = 1"
        )


def downgrade() -> None:
    """Revert."""
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("talk_ms")
