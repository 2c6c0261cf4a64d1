"""event log: a partial index for OriginateResponse instead of (event, ts_ms) on every row

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 10:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_WHERE = sa.text("event = 'OriginateResponse'")


def upgrade() -> None:
    """Apply."""
    op.drop_index("ix_ami_events_event_ts", table_name="ami_events")
    op.create_index(
        "ix_ami_events_originate_ts",
        "ami_events",
        ["ts_ms"],
        unique=False,
        sqlite_where=_WHERE,
        postgresql_where=_WHERE,
    )


def downgrade() -> None:
    """Revert."""
    op.drop_index("ix_ami_events_originate_ts", table_name="ami_events")
    op.create_index("ix_ami_events_event_ts", "ami_events", ["event", "ts_ms"], unique=False)
