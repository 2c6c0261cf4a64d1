"""outbox: the e-mails of the scripts' e-mail steps, with their delivery state

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    op.create_table(
        "outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
        ),
        sa.Column("dedupe_key", sa.String(200), nullable=False, unique=True),
        sa.Column("pbx_id", sa.String(64), nullable=False),
        sa.Column("call_uniqueid", sa.String(64), nullable=False),
        sa.Column(
            "interaction_id", sa.BigInteger(), nullable=True, comment="interactions.id it came from"
        ),
        sa.Column("agent", sa.String(80), nullable=False),
        sa.Column("user_name", sa.String(80), nullable=False),
        sa.Column("script_id", sa.String(32), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(254), nullable=False, comment="recipient name or address"),
        sa.Column("to_address", sa.String(254), nullable=True, comment="address it was sent to"),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, comment="pending, sent, failed"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("next_attempt_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("sent_at_ms", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_outbox_due", "outbox", ["pbx_id", "state", "next_attempt_at_ms"])
    op.create_index("ix_outbox_agent", "outbox", ["agent", "created_at_ms"])


def downgrade() -> None:
    """Revert."""
    op.drop_index("ix_outbox_agent", table_name="outbox")
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.drop_table("outbox")
