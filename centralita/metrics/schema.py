"""Tables owned by metrics: queue_log imports and IVR hang-ups (own ``MetaData``).

queue_log data is stored apart from the AMI-derived records but with the same column
names as ``calls`` / ``queue_entries`` for everything the indicator reads, so one query
builder serves both sources (and reconciliation compares like with like):

- ``ql_lines``: every imported queue_log line, verbatim (audit trail; idempotent by digest).
- ``ql_calls``: one row per callid (caller), folded like the AMI tracker does.
- ``ql_queue_entries``: one row per callid per queue stay.
- ``ql_follow_state``: where the daemon's queue_log follower stopped reading (per pbx).
- ``ivr_calls``: callers who hung up in the IVR before reaching a queue (input interface
  for the IVR-hang-up rule; written by whoever records IVR results).

Times are integer epoch milliseconds (UTC), as in ``ami_listener.schema``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    inspect,
)
from sqlalchemy.ext.asyncio import AsyncEngine

import centralita.ami_listener.schema as ingest_schema

metadata = MetaData()

ql_lines = Table(
    "ql_lines",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("pbx_id", String(64), nullable=False),
    Column("digest", LargeBinary(16), nullable=False),
    Column("time_s", BigInteger, nullable=False),
    Column("callid", String(150), nullable=False),
    Column("queue", String(80), nullable=False),
    Column("agent", String(200), nullable=False),
    Column("verb", String(32), nullable=False),
    Column("data", Text, nullable=False),
    Column("source", String(400), nullable=False, default=""),
    Column("line_no", Integer, nullable=False, default=0),
    UniqueConstraint("pbx_id", "digest", name="uq_ql_lines_pbx_digest"),
)
Index("ix_ql_lines_callid", ql_lines.c.callid)
# Healing reads the PBX's restarts (QUEUESTART) and queue entries of a recent window.
Index("ix_ql_lines_verb_time", ql_lines.c.pbx_id, ql_lines.c.verb, ql_lines.c.time_s)

ql_calls = Table(
    "ql_calls",
    metadata,
    Column("pbx_id", String(64), primary_key=True),
    Column("uniqueid", String(150), primary_key=True),
    Column("service", String(32), nullable=False),
    Column("queue", String(80), nullable=False),
    Column("queues", String(400), nullable=False),
    Column("caller_num", String(64), nullable=False, default=""),
    Column("caller_name", String(200), nullable=False, default=""),
    Column("entered_at_ms", BigInteger, nullable=False),
    Column("answered_at_ms", BigInteger),
    Column("ended_at_ms", BigInteger),
    Column("wait_ms", BigInteger),
    Column("wait_asterisk_s", Integer),
    Column("talk_ms", BigInteger),
    Column("agent_interface", String(200), nullable=False, default=""),
    Column("agent_name", String(200), nullable=False, default=""),
    Column("outcome", String(20), nullable=False),
    Column("transferred", Boolean, nullable=False, default=False),
)
Index("ix_ql_calls_entered", ql_calls.c.entered_at_ms)

ql_queue_entries = Table(
    "ql_queue_entries",
    metadata,
    Column("pbx_id", String(64), primary_key=True),
    Column("uniqueid", String(150), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("queue", String(80), nullable=False),
    Column("service", String(32), nullable=False),
    Column("entered_at_ms", BigInteger, nullable=False),
    Column("left_at_ms", BigInteger),
    Column("answered_at_ms", BigInteger),
    Column("outcome", String(20)),
    Column("wait_ms", BigInteger),
    Column("wait_asterisk_s", Integer),
    Column("agent_name", String(200), nullable=False, default=""),
    Column("exit_key", String(8), nullable=False, default=""),
    Column("talk_ms", BigInteger),
)
Index("ix_ql_queue_entries_entered", ql_queue_entries.c.entered_at_ms)

# Written by the listener (one writer), read here: defined with the store's schema.
ivr_calls = ingest_schema.ivr_calls

ql_follow_state = Table(
    "ql_follow_state",
    metadata,
    Column("pbx_id", String(64), primary_key=True),
    Column("path", String(400), nullable=False),
    Column("inode", BigInteger, nullable=False),
    # Byte offset of the first line not read yet (always just after a newline).
    Column("byte_offset", BigInteger, nullable=False),
    Column("line_no", BigInteger, nullable=False, default=0),
    # BLAKE2b of the file's first line: a file truncated and written again past the
    # offset (copytruncate rotation) keeps its inode but not its first line.
    Column("head", LargeBinary(16)),
    Column("updated_ms", BigInteger, nullable=False),
)
"""The queue_log follower's position (``metrics.queue_log_follow``), one row per PBX."""


HOUR_EXPR = "entered_at_ms / 3600000"
"""Absolute UTC hour of a call; the report groups on exactly this expression."""

REPORT_INDEX_COLUMNS = (
    f"({HOUR_EXPR}), service, answered_at_ms, outcome, wait_asterisk_s, wait_ms, entered_at_ms"
)
REPORT_INDEXES = {"ix_calls_report": "calls", "ix_ql_calls_report": "ql_calls"}
"""Covering indexes in (hour, service) order: the monthly summary reads only the index,
in GROUP BY order (no sort). ``calls`` belongs to ami_listener; the index is created here
until the listener's migrations carry it."""


async def create_report_indexes(engine: AsyncEngine) -> None:
    """Create the covering report indexes on the tables that exist."""
    async with engine.begin() as conn:
        present = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        for name, table in REPORT_INDEXES.items():
            if table in present:
                await conn.exec_driver_sql(
                    f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({REPORT_INDEX_COLUMNS})"
                )


async def create_schema(engine: AsyncEngine) -> None:
    """Create the metrics tables (and the report indexes) if missing: tests and benchmarks.

    Nothing in production calls it: the CLI and the daemon bring the database to
    Alembic head (``centralita.db.migrate``), the one schema path.
    """
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await create_report_indexes(engine)
