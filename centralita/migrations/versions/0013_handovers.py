"""handovers: the cases the procedure passes from an agent to a supervisor

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-10 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    op.create_table(
        "handovers",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
        ),
        sa.Column("pbx_id", sa.String(64), nullable=False),
        sa.Column("call_uniqueid", sa.String(64), nullable=False),
        sa.Column(
            "interaction_id", sa.BigInteger(), nullable=True, comment="interactions.id it came from"
        ),
        sa.Column("service", sa.String(32), nullable=False),
        sa.Column("script_id", sa.String(32), nullable=False),
        sa.Column("outcome_code", sa.String(64), nullable=False, comment="the agent's outcome"),
        sa.Column("outcome_label", sa.String(200), nullable=False),
        sa.Column(
            "continues_at", sa.Integer(), nullable=False, comment="the supervisor's first step"
        ),
        sa.Column("agent", sa.String(80), nullable=False),
        sa.Column(
            "agent_user", sa.String(80), nullable=False, comment="console user who recorded it"
        ),
        sa.Column("agent_note", sa.Text(), nullable=False),
        sa.Column("caller_num", sa.String(64), nullable=False),
        sa.Column("customer", sa.String(200), nullable=False, comment="name and contract"),
        sa.Column("state", sa.String(16), nullable=False, comment="open, assigned, closed"),
        sa.Column("assigned_to", sa.String(80), nullable=True),
        sa.Column("assigned_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("closed_by", sa.String(80), nullable=True),
        sa.Column("closed_at_ms", sa.BigInteger(), nullable=True),
        sa.Column(
            "resolution_code", sa.String(64), nullable=True, comment="the supervisor's outcome"
        ),
        sa.Column("resolution_label", sa.String(200), nullable=True),
        sa.Column("close_note", sa.Text(), nullable=True),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index(
        "ux_handovers_call",
        "handovers",
        ["pbx_id", "call_uniqueid", "script_id"],
        unique=True,
    )
    op.create_index("ix_handovers_state", "handovers", ["state", "created_at_ms"])


def downgrade() -> None:
    """Revert."""
    op.drop_index("ix_handovers_state", table_name="handovers")
    op.drop_index("ux_handovers_call", table_name="handovers")
    op.drop_table("handovers")
