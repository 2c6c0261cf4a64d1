"""The ``interactions`` table: what the agent recorded for a call ("digita una interacción").

Interactions are append-only: rows are inserted, never updated; a correction is a new row.
``work_items`` holds each answered call's draft until it is recorded. Its own
``MetaData`` (the console writes only these tables).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

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

# One row per answered call and agent: the agent's work on it until it is recorded (the
# walk and note drafts survive reloads, logouts and restarts). The unique key makes the
# recording idempotent: one interaction per call and agent however many clicks.
work_items = Table(
    "work_items",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("pbx_id", String(64), nullable=False),
    Column("call_uniqueid", String(150), nullable=False),
    Column("agent", String(80), nullable=False),
    Column("service", String(32), nullable=False, default=""),
    Column("queue", String(80), nullable=False, default=""),
    Column("caller_num", String(64), nullable=False, default=""),
    Column("script_id", String(32), nullable=False, default=""),
    Column("script_version", Integer, nullable=False, default=0),
    Column("pop", Text, nullable=False, comment="the call's screen-pop (JSON)"),
    Column("trail", Text, nullable=False, default="[]", comment="draft walk [[step, option]]"),
    Column("generic_outcome", String(64), nullable=False, default=""),
    Column("note", Text, nullable=False, default=""),
    Column("state", String(16), nullable=False, comment="open, recorded"),
    Column("wrapup_s", Integer, nullable=False, default=0),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
    Column("call_ended_at_ms", BigInteger),
    Column("recorded_at_ms", BigInteger),
    Column("interaction_id", BigInteger),
    UniqueConstraint("pbx_id", "call_uniqueid", "agent", name="uq_work_items_call_agent"),
)
Index("ix_work_items_agent", work_items.c.pbx_id, work_items.c.agent, work_items.c.state)
Index("ix_work_items_caller", work_items.c.pbx_id, work_items.c.caller_num)
