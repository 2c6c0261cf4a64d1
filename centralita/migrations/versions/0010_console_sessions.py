"""console_sessions: the console's server-side sessions (logout and password change end them)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    op.create_table(
        "console_sessions",
        sa.Column(
            "id",
            sa.String(64),
            primary_key=True,
            comment="SHA-256 hex of the cookie's session id",
        ),
        sa.Column("user_name", sa.String(80), nullable=False),
        sa.Column("address", sa.String(64), nullable=False, comment="client address"),
        sa.Column(
            "password_tag", sa.String(16), nullable=False, comment="user's password hash, tagged"
        ),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("revoked_reason", sa.String(16), nullable=True, comment="salida, clave, admin"),
    )
    op.create_index("ix_console_sessions_user", "console_sessions", ["user_name"])


def downgrade() -> None:
    """Revert."""
    op.drop_index("ix_console_sessions_user", table_name="console_sessions")
    op.drop_table("console_sessions")
