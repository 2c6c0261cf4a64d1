"""The ``interactions`` table: what the agent recorded for a call ("digita una interacción").

Append-only: rows are inserted, never updated; a correction is a new row. Its own
``MetaData`` (the console writes only this table).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

interactions = Table(
    "interactions",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("pbx_id", String(64), nullable=False),
    Column("call_uniqueid", String(64), nullable=False),
    Column("agent", String(80), nullable=False, comment="topic agent id (agent1, sip-2001)"),
    Column("user_name", String(80), nullable=False, comment="console user who recorded it"),
    Column("service", String(32), nullable=False, default=""),
    Column("script_id", String(32), nullable=False),
    Column("script_version", Integer, nullable=False),
    Column("trail", Text, nullable=False, comment="JSON [[step, option], ...]"),
    Column("outcome_code", String(64), nullable=False),
    Column("outcome_label", String(200), nullable=False, default=""),
    Column("note", Text, nullable=False, default=""),
    Column("recorded_at_ms", BigInteger, nullable=False),
)
Index("ix_interactions_call", interactions.c.pbx_id, interactions.c.call_uniqueid)
Index("ix_interactions_recorded", interactions.c.recorded_at_ms)
