"""work_items: each answered call's draft (walk, note) until the agent records it

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-10 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    op.create_table(
        "work_items",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
        ),
        sa.Column("pbx_id", sa.String(64), nullable=False),
        sa.Column("call_uniqueid", sa.String(150), nullable=False),
        sa.Column("agent", sa.String(80), nullable=False),
        sa.Column("service", sa.String(32), nullable=False),
        sa.Column("queue", sa.String(80), nullable=False),
        sa.Column("caller_num", sa.String(64), nullable=False),
        sa.Column("script_id", sa.String(32), nullable=False),
        sa.Column("script_version", sa.Integer(), nullable=False),
        sa.Column("pop", sa.Text(), nullable=False, comment="the call's screen-pop (JSON)"),
        sa.Column("trail", sa.Text(), nullable=False, comment="draft walk [[step, option]]"),
        sa.Column("generic_outcome", sa.String(64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, comment="open, recorded"),
        sa.Column("wrapup_s", sa.Integer(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("call_ended_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("recorded_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("interaction_id", sa.BigInteger(), nullable=True),
        sa.UniqueConstraint("pbx_id", "call_uniqueid", "agent", name="uq_work_items_call_agent"),
    )
    op.create_index("ix_work_items_agent", "work_items", ["pbx_id", "agent", "state"])
    op.create_index("ix_work_items_caller", "work_items", ["pbx_id", "caller_num"])


def downgrade() -> None:
    """Revert."""
    op.drop_index("ix_work_items_caller", table_name="work_items")
    op.drop_index("ix_work_items_agent", table_name="work_items")
    op.drop_table("work_items")
