"""employees: the internal directory (P_EMPLEADOS) the switchboard agents transfer to

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    op.create_table(
        "employees",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column(
            "area", sa.String(200), nullable=False, comment="gerencia, departamento o unidad"
        ),
        sa.Column("position", sa.String(200), nullable=False, comment="cargo"),
        sa.Column("extension", sa.String(16), nullable=True, comment="interno de la central"),
        sa.Column("phone", sa.String(16), nullable=True, comment="teléfono directo o celular"),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("search_key", sa.Text(), nullable=False, comment="name, area, position folded"),
        sa.Column("source_line", sa.Integer(), nullable=False, comment="line of the imported CSV"),
    )
    op.create_index("ix_employees_extension", "employees", ["extension"])


def downgrade() -> None:
    """Revert."""
    op.drop_index("ix_employees_extension", table_name="employees")
    op.drop_table("employees")
