"""campaign K: one agent's result per campaign attempt (idempotent console endpoint)

Before, ``campaign_dispositions`` kept every result recorded for an attempt and the latest
one counted; now an attempt has exactly one result. The rows that no longer counted (all
but the latest of each attempt) are removed, then a unique index enforces it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    op.execute(
        sa.text(
            "DELETE FROM campaign_dispositions WHERE id NOT IN ("
            " SELECT MAX(id) FROM campaign_dispositions GROUP BY attempt_id)"
        )
    )
    op.create_index(
        "uq_campaign_dispositions_attempt",
        "campaign_dispositions",
        ["attempt_id"],
        unique=True,
    )


def downgrade() -> None:
    """Revert."""
    op.drop_index("uq_campaign_dispositions_attempt", table_name="campaign_dispositions")
