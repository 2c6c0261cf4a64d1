"""The `customers` table: the customer directory the IVR looks callers up in.

The IVR has its own `MetaData`: it only reads this table at call time; the one command
that writes it is `centralita customers import`. One row per contract (a customer with
two contracts has two rows, same CI); phone and CI are indexed lookup keys.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import Boolean, Column, Index, MetaData, String, Table, Text, false

metadata = MetaData()

SEGMENTS: Final = ("vip", "corporativo", "empresa", "pyme", "residencial")
"""Customer segments the import accepts, most important first (a CI lookup matching several
contracts returns the first). routing.toml gives priorities to the ones it lists
(`segments`); any other segment gets its service's default priority."""

customers = Table(
    "customers",
    metadata,
    Column("contract", String(32), primary_key=True, comment="contract number, the customer id"),
    Column("phone", String(16), nullable=True, comment="service phone number, digits only"),
    Column("ci", String(20), nullable=True, comment="carnet de identidad, digits only"),
    Column("name", String(200), nullable=False),
    Column("segment", String(32), nullable=False, comment="one of SEGMENTS"),
    Column("services", Text, nullable=False, default="", comment="';'-separated products"),
    Column("address", Text, nullable=False, default=""),
    Column("notes", Text, nullable=False, default=""),
    Column(
        "unlisted",
        Boolean,
        nullable=False,
        default=False,
        server_default=false(),
        comment='number "en reserva": the 104 guide does not give it (procedure D)',
    ),
)
Index("ix_customers_phone", customers.c.phone)
Index("ix_customers_ci", customers.c.ci)
