"""The ``outbox`` table: every e-mail of an e-mail step, with its delivery state.

One row per (pbx, call, script, step): ``dedupe_key`` is unique, so recording the same
call's interaction again (a double click, a correction) never queues a second message.
``state`` is ``pending`` (waiting for its next attempt at ``next_attempt_at_ms``),
``sent`` or ``failed`` (refused for good, or out of attempts). Its own ``MetaData``.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

PENDING: Final = "pending"
SENT: Final = "sent"
FAILED: Final = "failed"

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("dedupe_key", String(200), nullable=False, unique=True),
    Column("pbx_id", String(64), nullable=False),
    Column("call_uniqueid", String(64), nullable=False),
    Column("interaction_id", BigInteger, nullable=True, comment="interactions.id it came from"),
    Column("agent", String(80), nullable=False),
    Column("user_name", String(80), nullable=False),
    Column("script_id", String(32), nullable=False),
    Column("step", Integer, nullable=False),
    Column("recipient", String(254), nullable=False, comment="recipient name or address"),
    Column("to_address", String(254), nullable=True, comment="address it was sent to"),
    Column("subject", String(300), nullable=False),
    Column("body", Text, nullable=False),
    Column("state", String(16), nullable=False, comment="pending, sent, failed"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("next_attempt_at_ms", BigInteger, nullable=False),
    Column("sent_at_ms", BigInteger, nullable=True),
)
Index("ix_outbox_due", outbox.c.pbx_id, outbox.c.state, outbox.c.next_attempt_at_ms)
Index("ix_outbox_agent", outbox.c.agent, outbox.c.created_at_ms)
