"""ql_follow_state: where the daemon's queue_log follower stopped reading (per pbx);
queue_log callids up to 150 characters, as the uniqueids of ``calls`` (0004)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


# (table, column) of the queue_log tables that hold a caller's uniqueid (callid).
_IDS = (("ql_lines", "callid"), ("ql_calls", "uniqueid"), ("ql_queue_entries", "uniqueid"))


def _resize(old: int, new: int) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite does not enforce a varchar's length
    for table, column in _IDS:
        op.alter_column(
            table,
            column,
            existing_type=sa.String(old),
            type_=sa.String(new),
            existing_nullable=False,
        )


def upgrade() -> None:
    """Apply."""
    _resize(64, 150)
    op.create_table(
        "ql_follow_state",
        sa.Column("pbx_id", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=400), nullable=False),
        sa.Column("inode", sa.BigInteger(), nullable=False),
        sa.Column("byte_offset", sa.BigInteger(), nullable=False),
        sa.Column("line_no", sa.BigInteger(), nullable=False),
        sa.Column("head", sa.LargeBinary(length=16), nullable=True),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("pbx_id"),
    )


def downgrade() -> None:
    """Revert."""
    op.drop_table("ql_follow_state")
    _resize(150, 64)
