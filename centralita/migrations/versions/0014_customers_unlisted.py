"""customers.unlisted: a number "en reserva" that the 104 guide does not give

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    with op.batch_alter_table("customers") as batch:
        batch.add_column(
            sa.Column(
                "unlisted",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
                comment='number "en reserva": the 104 guide does not give it (procedure D)',
            )
        )


def downgrade() -> None:
    """Revert."""
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("unlisted")
