"""Values every database stores, and which database errors mean "this row", not "down".

Made storable before insert, the same on SQLite and PostgreSQL (so that a log or a call
is the same row on either):

- text: NUL (PostgreSQL refuses it in text) and lone surrogates (no UTF-8 for them)
  become U+FFFD, one for one;
- a value longer than its column is cut to the column's width in characters (PostgreSQL
  refuses it; SQLite would keep it whole). An event's ``raw`` text is never cut, so the
  log keeps every byte of the event (NUL shown as U+FFFD) whatever its indexed columns
  hold. ``pbx_id`` is never cut: it is the operator's setting, the same on every row.

The C log writer (``ami_listener._sqlitelog``) applies the same rules to the event rows
it binds straight from the frame bytes.

A write the database still refuses is told apart by :func:`row_rejected`: a data or
integrity error (PostgreSQL SQLSTATE classes 22 and 23, SQLite's CONSTRAINT, MISMATCH,
TOOBIG and RANGE, a value the driver cannot encode) is about the rows and is isolated
(``ami_listener.store.write_isolating``); anything else — connection refused or lost, a
timeout, a locked SQLite file, a missing table, a full disk — is an outage and is retried.
"""

from __future__ import annotations

import functools
import operator
import re
import sqlite3
from collections.abc import Sequence
from itertools import repeat
from typing import Any

import sqlalchemy as sa

from centralita.ami_listener.eventlog import EventRow
from centralita.ami_listener.schema import ami_events

REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

# PostgreSQL SQLSTATE classes of a refused value: 22 data exception (too long, NUL, out of
# range, bad encoding), 23 integrity constraint violation; 54000: a value too large for
# an index row.
_ROW_SQLSTATE_CLASSES = ("22", "23")
_ROW_SQLSTATES = frozenset({"54000"})
# SQLite primary result codes of a refused value: TOOBIG, CONSTRAINT, MISMATCH, RANGE.
_ROW_SQLITE_CODES = frozenset({18, 19, 20, 25})


def _width(column: sa.Column[Any]) -> int:
    length = getattr(column.type, "length", None)
    assert isinstance(length, int)
    return length


EVENT_NAME_CHARS = _width(ami_events.c.event)
UNIQUEID_CHARS = _width(ami_events.c.uniqueid)
QUEUE_CHARS = _width(ami_events.c.queue)


def storable_text(value: str, limit: int | None = None) -> str:
    """``value`` without NUL or lone surrogates (each becomes U+FFFD), cut to ``limit``
    characters."""
    if "\x00" in value or not value.isascii():
        value = _UNSTORABLE.sub(REPLACEMENT, value)
    if limit is not None and len(value) > limit:
        value = value[:limit]
    return value


def _optional(value: str | None, limit: int) -> str | None:
    return None if value is None else storable_text(value, limit)


def storable_event(row: EventRow) -> EventRow:
    """An event-log row with every text storable (its ``raw`` never cut)."""
    pbx_id, digest, event, ts_ms, received_ms, uniqueid, linkedid, queue, raw = row
    return (
        pbx_id,
        digest,
        storable_text(event, EVENT_NAME_CHARS),
        ts_ms,
        received_ms,
        _optional(uniqueid, UNIQUEID_CHARS),
        _optional(linkedid, UNIQUEID_CHARS),
        _optional(queue, QUEUE_CHARS),
        storable_text(raw),
    )


_RAW, _UNIQUEID, _LINKEDID, _QUEUE = (operator.itemgetter(i) for i in (8, 5, 6, 7))


def _longest(values: Any) -> int:
    return max(map(len, filter(None, values)), default=0)


def _all_storable(rows: Sequence[EventRow]) -> bool:
    """True when no row needs a change (the loops run in C: measured 0.34 µs a row of
    the captures against 0.46 for one Python loop over the rows)."""
    return (
        not any(map(operator.contains, map(_RAW, rows), repeat("\x00")))
        and _longest(map(_UNIQUEID, rows)) <= UNIQUEID_CHARS
        and _longest(map(_LINKEDID, rows)) <= UNIQUEID_CHARS
        and _longest(map(_QUEUE, rows)) <= QUEUE_CHARS
    )


def storable_events(rows: Sequence[EventRow]) -> Sequence[EventRow]:
    """The rows with every value storable: ``rows`` itself when nothing needs a change
    (the usual case, checked without building anything).

    Every indexed value is a substring of ``raw``, so one look for NUL in ``raw`` covers
    them all; rows come from decoded frames (strict UTF-8 or Latin-1), never with lone
    surrogates.
    """
    if _all_storable(rows):
        return rows
    fixed: list[EventRow] | None = None
    uid_chars, queue_chars = UNIQUEID_CHARS, QUEUE_CHARS
    for i, row in enumerate(rows):
        uniqueid, linkedid, queue, raw = row[5], row[6], row[7], row[8]
        if (
            "\x00" in raw
            or (uniqueid is not None and len(uniqueid) > uid_chars)
            or (linkedid is not None and len(linkedid) > uid_chars)
            or (queue is not None and len(queue) > queue_chars)
        ):
            if fixed is None:
                fixed = list(rows)
            fixed[i] = storable_event(row)
    return rows if fixed is None else fixed


@functools.lru_cache(maxsize=16)
def _text_columns(table: sa.Table) -> tuple[tuple[str, int | None], ...]:
    """(name, width or None) of a table's text columns, ``pbx_id`` left out."""
    return tuple(
        (c.name, getattr(c.type, "length", None))
        for c in table.columns
        if isinstance(c.type, sa.String) and c.name != "pbx_id"
    )


def storable_row(table: sa.Table, row: dict[str, Any]) -> dict[str, Any]:
    """A dict row of ``table`` with every text value storable (changed in place)."""
    for name, width in _text_columns(table):
        value = row.get(name)
        if isinstance(value, str):
            row[name] = storable_text(value, width)
    return row


def _sqlstate(error: BaseException) -> str | None:
    for attr in ("sqlstate", "pgcode"):  # asyncpg (through SQLAlchemy's adapter), psycopg
        value = getattr(error, attr, None)
        if isinstance(value, str) and value:
            return value
    return None


def row_rejected(exc: BaseException) -> bool:
    """True when ``exc`` is the database (or its driver) refusing the values of a write;
    False for an outage and for anything not known to be about the rows."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return False
    error: BaseException = exc
    if isinstance(exc, sa.exc.StatementError) and exc.orig is not None:
        error = exc.orig
    if isinstance(error, (UnicodeError, OverflowError)):
        return True  # a value the driver cannot encode (sqlite3 raises these unwrapped)
    sqlstate = _sqlstate(error)
    if sqlstate is not None:
        return sqlstate[:2] in _ROW_SQLSTATE_CLASSES or sqlstate in _ROW_SQLSTATES
    code = getattr(error, "sqlite_errorcode", None)  # sqlite3, and the C log writer
    if isinstance(code, int):
        return code & 0xFF in _ROW_SQLITE_CODES
    if isinstance(error, (sqlite3.ProgrammingError, sqlite3.InterfaceError)):
        return "binding parameter" in str(error)  # a value of a type sqlite3 cannot bind
    return isinstance(exc, (sa.exc.DataError, sa.exc.IntegrityError))


def error_text(exc: BaseException, limit: int = 500) -> str:
    """What the database said, without SQLAlchemy's SQL and parameters (which may hold a
    caller's number): safe to log for an outage. For a refused row the message may quote
    the value: it is stored with the row, never logged."""
    error: BaseException = exc
    if isinstance(exc, sa.exc.StatementError) and exc.orig is not None:
        error = exc.orig
    first = str(error).split("\n", 1)[0]
    return storable_text(f"{type(error).__name__}: {first}", limit)


def error_code(exc: BaseException) -> str:
    """A short code for logs: the SQLSTATE, the SQLite result code, or the error class."""
    error: BaseException = exc
    if isinstance(exc, sa.exc.StatementError) and exc.orig is not None:
        error = exc.orig
    sqlstate = _sqlstate(error)
    if sqlstate is not None:
        return sqlstate
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int):
        return f"sqlite:{code}"
    return type(error).__name__
