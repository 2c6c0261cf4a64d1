"""write_rejects (rows the database refused, kept with its error); uniqueids up to 150

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 10:00:00

Asterisk's uniqueids and linkedids may be up to 149 characters (``AST_MAX_UNIQUEID``, an
Originate's ``ChannelId``): the columns that hold them are widened from 64 to 150. On
PostgreSQL widening a varchar is a catalogue change (no table rewrite); SQLite does not
enforce a varchar's length, so its tables are left as they are (a batch ALTER would copy
the whole event log).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# (table, column, nullable) of every column that holds a channel's uniqueid or linkedid.
_IDS = (
    ("ami_events", "uniqueid", True),
    ("ami_events", "linkedid", True),
    ("calls", "uniqueid", False),
    ("calls", "linkedid", False),
    ("queue_entries", "uniqueid", False),
    ("ivr_calls", "uniqueid", False),
)


def _resize(old: int, new: int) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, nullable in _IDS:
        op.alter_column(
            table,
            column,
            existing_type=sa.String(old),
            type_=sa.String(new),
            existing_nullable=nullable,
        )


def upgrade() -> None:
    """Apply."""
    op.create_table(
        "write_rejects",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("pbx_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_write_rejects_at", "write_rejects", ["at_ms"], unique=False)
    _resize(64, 150)


def downgrade() -> None:
    """Revert (fails on PostgreSQL if an id longer than 64 characters was stored)."""
    _resize(150, 64)
    op.drop_index("ix_write_rejects_at", table_name="write_rejects")
    op.drop_table("write_rejects")
