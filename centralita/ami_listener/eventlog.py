"""Event-log rows from event frames (pure).

One function turns the bytes of one AMI event frame (line ends normalised, without the
blank line that ends it) into the row the append-only log stores. The in-process pipeline
(``ingest-file``, the inline writer) and the event-log writer process
(:mod:`ami_listener.logwriter`) both call it, so a capture and a live stream give the same
rows, digest included, whichever path stored them.

The indexed headers are found by substring search, without splitting the message: the log
keeps every event, and most of them (Newexten, VarSet, DeviceStateChange...) are read by
nobody else.

The row's ``digest`` (the log's idempotency key, unique per PBX) is time-ordered: 6 bytes
of the event's own ``Timestamp`` in milliseconds, then 10 bytes of BLAKE2b of the frame.
It depends only on the frame's bytes, so the same event ingested twice has the same key;
and since events arrive in time order, each insert lands at the right edge of the unique
index instead of at a random page (measured: a third less time per stored event, and it
stays so when the index outgrows the page cache). Events without a Timestamp (Asterisk's
``timestampevents=no``) get a zero prefix.

The writer process builds every row of the log: :func:`span_rows` runs in C
(``ami_listener._speedups``) when the extension was built, and in Python otherwise
(:func:`py_span_rows`, the reference: tests check that both give the same rows).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from centralita.ami_listener.protocol import decode_text, speedups

# One event as stored in the log, in column order (a plain tuple: cheapest to build).
EventRow = tuple[str, bytes, str, int | None, int, str | None, str | None, str | None, str]

TS_MARK = "\nTimestamp: "
_UID, _LID, _QUEUE = "\nUniqueid: ", "\nLinkedid: ", "\nQueue: "
FRAME_SEPARATOR = b"\n\n"
_MAX_TS_MS = 1 << 48  # the log key's 6-byte time prefix
_MAX_TS_MS_FLOAT = float(_MAX_TS_MS)
_MAX_TS_S = _MAX_TS_MS / 1000


def header_value(raw: str, marker: str) -> str | None:
    """The value after ``marker`` (``"\\nKey: "``, a header other than the first), or None."""
    start = raw.find(marker)
    if start < 0:
        return None
    start += len(marker)
    end = raw.find("\n", start)
    return raw[start:] if end < 0 else raw[start:end]


def timestamp_of(raw: str) -> float | None:
    """The ``Timestamp`` header as epoch seconds, or None when missing or unreadable."""
    return parse_timestamp(header_value(raw, TS_MARK))


def parse_timestamp(value: str | None) -> float | None:
    """A ``Timestamp`` value (``1795930000.123456``) as epoch seconds, or None when it is
    not a number from 1970 to year 10889 (``inf``, ``nan`` or ``1e30`` from a broken peer
    would otherwise overflow the integer millisecond columns)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0.0 <= seconds < _MAX_TS_S else None  # NaN fails both tests


def event_name(raw: str) -> str:
    """The event name when the message starts with ``Event:`` (as AmiMessage.name)."""
    if not raw.startswith("Event: "):
        return ""
    eol = raw.find("\n")
    return raw[7:] if eol < 0 else raw[7:eol]


def log_key(frame: bytes, ts_ms: int | None) -> bytes:
    """The time-ordered 16-byte identity of an event frame in the log."""
    prefix = (ts_ms if ts_ms is not None and 0 <= ts_ms < _MAX_TS_MS else 0).to_bytes(6, "big")
    return prefix + hashlib.blake2b(frame, digest_size=10).digest()


def timestamp_ms(raw: str) -> int | None:
    """The ``Timestamp`` header in epoch milliseconds, or None when it is missing,
    unreadable, not finite or outside what the log key holds (0 to 2**48 ms)."""
    ts = timestamp_of(raw)
    if ts is None:
        return None
    ms = ts * 1000 + 0.5
    return int(ms) if 0.0 <= ms < _MAX_TS_MS_FLOAT else None  # NaN fails both tests


def epoch_ms(seconds: float) -> int:
    """Epoch seconds → integer milliseconds, rounded as every log column is."""
    return int(seconds * 1000 + 0.5)


def event_row(pbx_id: str, frame: bytes, received_at: float, raw: str | None = None) -> EventRow:
    """The log row of one event frame; ``raw`` is its decoded text when already known."""
    return _row(pbx_id, frame, epoch_ms(received_at), raw)


def _row(pbx_id: str, frame: bytes, received_ms: int, raw: str | None = None) -> EventRow:
    if raw is None:
        raw = decode_text(frame)[0]
    ts_ms = timestamp_ms(raw)
    return (
        pbx_id,
        log_key(frame, ts_ms),
        event_name(raw)[:64],
        ts_ms,
        received_ms,
        header_value(raw, _UID) or None,
        header_value(raw, _LID) or None,
        header_value(raw, _QUEUE) or None,
        raw,
    )


def join_frames(frames: list[bytes]) -> bytes:
    """Pack event frames for the writer process (an event frame never holds a blank line)."""
    return FRAME_SEPARATOR.join(frames)


def span_rows(pbx_id: str, span: bytes, received_at: float) -> list[EventRow]:
    """The rows of a span made by :func:`join_frames` (in C when the extension is built)."""
    return _span_rows(pbx_id, span, epoch_ms(received_at))


def span_rows_ms(pbx_id: str, span: bytes, received_ms: int) -> list[EventRow]:
    """:func:`span_rows` with the receipt time already in milliseconds."""
    return _span_rows(pbx_id, span, received_ms)


def py_span_rows(pbx_id: str, span: bytes, received_ms: int) -> list[EventRow]:
    """The reference implementation of ``_speedups.span_rows``."""
    if not span:
        return []
    return [_row(pbx_id, frame, received_ms) for frame in span.split(FRAME_SEPARATOR)]


_span_rows: Callable[[str, bytes, int], list[EventRow]] = py_span_rows
if speedups is not None:
    _span_rows = speedups.span_rows
