"""The campaign tables, on their own `MetaData` (same code on SQLite and PostgreSQL).

Times are integer epoch milliseconds (UTC); calendar dates are ISO ``YYYY-MM-DD`` text.
Attempts, their results, the agent that took them and the dispositions are append-only:
a result and a disposition are written once per attempt (the first one wins), the
campaign's history is never rewritten, and the dialer decides the next call from these rows alone.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("month", String(7), nullable=False, unique=True, comment="expiry month YYYY-MM"),
    Column("status", String(16), nullable=False, comment="active | paused"),
    Column("script_id", String(32), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

customers_in_list = Table(
    "campaign_customers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), nullable=False),
    Column("contract", String(32), nullable=False),
    Column("name", String(200), nullable=False),
    Column("service", String(16), nullable=False, comment="tv_cable | internet"),
    Column("phones", Text, nullable=False, comment="';'-separated, in calling order"),
    Column("due_date", String(10), nullable=False),
    Column("source_line", Integer, nullable=False, comment="line in the imported file"),
    UniqueConstraint("campaign_id", "contract", name="uq_campaign_customers_contract"),
)

do_not_call = Table(
    "campaign_dnc",
    metadata,
    Column("kind", String(8), primary_key=True, comment="phone | contract"),
    Column("value", String(32), primary_key=True),
    Column("reason", Text, nullable=False, default=""),
    Column("added_ms", BigInteger, nullable=False),
)

attempts = Table(
    "campaign_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), nullable=False),
    Column("contract", String(32), nullable=False),
    Column("phone", String(16), nullable=False),
    Column("attempt_no", Integer, nullable=False),
    Column("queue", String(64), nullable=False),
    Column("action_id", String(64), nullable=False, unique=True),
    Column("placed_ms", BigInteger, nullable=False, comment="written before the Originate"),
)
Index("ix_campaign_attempts_campaign", attempts.c.campaign_id, attempts.c.contract)

attempt_results = Table(
    "campaign_attempt_results",
    metadata,
    Column("attempt_id", Integer, ForeignKey("campaign_attempts.id"), primary_key=True),
    Column("outcome", String(16), nullable=False),
    Column("reason_code", Integer, nullable=True, comment="OriginateResponse Reason"),
    Column("uniqueid", String(64), nullable=False, default=""),
    Column("channel", String(128), nullable=False, default=""),
    Column("at_ms", BigInteger, nullable=False),
)
Index("ix_campaign_attempt_results_uniqueid", attempt_results.c.uniqueid)

attempt_agents = Table(
    "campaign_attempt_agents",
    metadata,
    Column("attempt_id", Integer, ForeignKey("campaign_attempts.id"), primary_key=True),
    Column("agent", String(128), nullable=False, comment="queue member interface or name"),
    Column("at_ms", BigInteger, nullable=False),
)

dispositions = Table(
    "campaign_dispositions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("attempt_id", Integer, ForeignKey("campaign_attempts.id"), nullable=False),
    Column("code", String(32), nullable=False),
    Column("agent", String(128), nullable=False),
    Column("note", Text, nullable=False, default=""),
    Column("at_ms", BigInteger, nullable=False),
)
Index("ix_campaign_dispositions_attempt", dispositions.c.attempt_id)
Index("uq_campaign_dispositions_attempt", dispositions.c.attempt_id, unique=True)
"""One agent's result per attempt (migration 0008): recording it again changes nothing."""

payments = Table(
    "campaign_payments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("contract", String(32), nullable=False),
    Column("paid_on", String(10), nullable=False),
    Column("amount", String(24), nullable=False, default=""),
    Column("reference", String(64), nullable=False, default=""),
    Column("key", String(160), nullable=False, unique=True, comment="contract|date|amount|ref"),
    Column("imported_ms", BigInteger, nullable=False),
)
Index("ix_campaign_payments_contract", payments.c.contract)
