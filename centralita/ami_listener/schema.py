"""Database schema of the ingest side: the append-only event log and the call records.

Times are stored as integer epoch milliseconds (UTC): portable between SQLite and
PostgreSQL, exact, and fast to range-scan for monthly reports. Durations keep their unit in
the column name (``wait_ms``, ``holdtime_s``).

Other packages read these tables (metrics, console) but only the listener writes them.
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
)

metadata = MetaData()

ami_events = Table(
    "ami_events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("pbx_id", String(64), nullable=False),
    # Time-ordered identity of the frame (ami_listener.eventlog.log_key): idempotent ingestion.
    Column("digest", LargeBinary(16), nullable=False),
    Column("event", String(64), nullable=False),
    Column("ts_ms", BigInteger),
    Column("received_ms", BigInteger, nullable=False),
    Column("uniqueid", String(150)),  # Asterisk's own limit is 149 characters (migration 0004)
    Column("linkedid", String(150)),
    Column("queue", String(80)),
    Column("raw", Text, nullable=False),  # the message text as received (headers, \n-separated)
    UniqueConstraint("pbx_id", "digest", name="uq_ami_events_pbx_digest"),
)
Index("ix_ami_events_uniqueid", ami_events.c.uniqueid)
# Only the campaign reads the log by event name (OriginateResponse since a time): a partial
# index serves it, and every other insert skips one index (measured: 2.5 µs of ~15 per row).
Index(
    "ix_ami_events_originate_ts",
    ami_events.c.ts_ms,
    sqlite_where=ami_events.c.event == "OriginateResponse",
    postgresql_where=ami_events.c.event == "OriginateResponse",
)

calls = Table(
    "calls",
    metadata,
    Column("pbx_id", String(64), primary_key=True),
    Column("uniqueid", String(150), primary_key=True),
    Column("linkedid", String(150), nullable=False),
    Column("service", String(32), nullable=False),
    Column("exten", String(64), nullable=False, default=""),
    Column("queue", String(80), nullable=False),
    Column("queues", String(400), nullable=False),
    Column("caller_num", String(64), nullable=False, default=""),
    Column("caller_name", String(200), nullable=False, default=""),
    Column("entered_at_ms", BigInteger, nullable=False),
    Column("answered_at_ms", BigInteger),
    Column("ended_at_ms", BigInteger),
    Column("wait_ms", BigInteger),
    Column("wait_asterisk_s", Integer),
    Column("holdtime_s", Integer),
    Column("talk_ms", BigInteger),
    Column("asterisk_talk_s", Integer),
    Column("agent_interface", String(200), nullable=False, default=""),
    Column("agent_name", String(200), nullable=False, default=""),
    Column("ring_no_answer", Integer, nullable=False, default=0),
    Column("join_position", Integer, nullable=False, default=0),
    Column("abandon_position", Integer),
    Column("outcome", String(20), nullable=False),
    Column("transferred", Boolean, nullable=False, default=False),
    Column("ivr", Text),
    Column("resynced", Boolean, nullable=False, default=False),
    Column("gap", Boolean, nullable=False, default=False),
    # Where the record came from: "ami" (the live event stream, resync included) or
    # "queue_log" (filled by healing from Asterisk's own queue_log).
    Column("source", String(16), nullable=False, default="ami", server_default="ami"),
    # Comma-separated names of the values that were not observed but estimated or left
    # unknown (resync after an outage, a call built from its last events): entered_at,
    # answered_at, ended_at, talk, outcome. Empty when every value was seen in events.
    Column("marks", String(200), nullable=False, default="", server_default=""),
)
Index("ix_calls_entered", calls.c.entered_at_ms)
Index("ix_calls_service_entered", calls.c.service, calls.c.entered_at_ms)

queue_entries = Table(
    "queue_entries",
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
    Column("hold_time_s", Integer),
    Column("wait_ms", BigInteger),
    Column("wait_asterisk_s", Integer),
    Column("join_position", Integer, nullable=False, default=0),
    Column("leave_position", Integer),
    Column("original_position", Integer),
    Column("agent_interface", String(200), nullable=False, default=""),
    Column("agent_name", String(200), nullable=False, default=""),
    Column("ring_no_answer", Integer, nullable=False, default=0),
    Column("exit_key", String(8), nullable=False, default=""),
    Column("talk_ms", BigInteger),  # this stay's own talk (a transfer ends it)
)
Index("ix_queue_entries_queue_entered", queue_entries.c.queue, queue_entries.c.entered_at_ms)

ivr_calls = Table(
    "ivr_calls",
    metadata,
    Column("pbx_id", String(64), primary_key=True),
    Column("uniqueid", String(150), primary_key=True),
    Column("service", String(32), nullable=False),
    Column("started_at_ms", BigInteger, nullable=False),
    Column("caller_num", String(64), nullable=False, default=""),
    Column("hung_up_before_queue", Boolean, nullable=False, default=True),
)
"""Calls of a service that never reached a queue (the dialplan set CC_SERVICE on their
channel, no queue join followed): callers who hung up in the IVR
(``hung_up_before_queue``), and calls the IVR sent to an extension or an announcement
(false). Both are shown on their own column in every export."""
Index("ix_ivr_calls_started", ivr_calls.c.started_at_ms)

write_rejects = Table(
    "write_rejects",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("pbx_id", String(64), nullable=False),
    Column("kind", String(8), nullable=False),  # event | call | ivr
    Column("error", Text, nullable=False),  # what the database said
    Column("payload", Text, nullable=False),  # the row as JSON (an event's raw text included)
    Column("at_ms", BigInteger, nullable=False),  # when it was rejected (this host's clock)
)
"""The dead-letter table: rows the database refused even after they were made storable
(``ami_listener.store.write_isolating``), one per row, with the database's error. The
rest of their batch is written; nothing here is read back automatically."""
Index("ix_write_rejects_at", write_rejects.c.at_ms)
