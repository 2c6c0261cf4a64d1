"""Follow Asterisk's queue_log as it grows: new lines into ``ql_lines``, calls refolded.

The daemon reads the PBX's queue_log (or a mirrored copy) piece by piece and remembers
where it stopped in ``ql_follow_state`` (inode, byte offset, line count and a digest of the
file's first line), in the same transaction as the lines it stored, so a restart resumes
exactly there. The file is Asterisk's, never ours:

- **rotation** (the path now names another inode): the rest of the old file is read from
  ``<path>.1`` when that is still the old inode, then the new file from its start;
- **truncation** (the file is shorter than the offset, or its first line changed: a
  copytruncate rotation that grew back past the offset): read again from the start;
- a **partial last line** (no newline yet) is left for the next read.

Lines are stored exactly as ``import-queue-log`` stores them (same digest: the line's
text and how many identical lines precede it in the file), so a line read twice, or
read here and imported by hand, is stored once. Every callid a stored line names is then
refolded from all of its stored lines into ``ql_calls`` / ``ql_queue_entries``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from centralita.metrics.exceptions import QueueLogError
from centralita.metrics.queue_log import CALL_VERBS, QueueLogLine, line_digests, parse_line
from centralita.metrics.queue_log_import import _insert, _refold_stored, _replace_calls, line_row
from centralita.metrics.schema import ql_follow_state, ql_lines
from centralita.metrics.service_level import service_of_queue

PIECE_BYTES = 1 << 20
"""At most this much of the file is read, stored and folded per transaction."""
LOOKBACK_BYTES = 64 * 1024
"""Identical lines share their second, so they lie close together: the lines this far
before a piece are enough to number a repeated line as a whole-file import does."""
HEAD_BYTES = 4096
NOT_CALLS = frozenset({"", "NONE", "MANAGER"})


@dataclass(frozen=True)
class FollowState:
    """Where the follower stopped in one file."""

    path: str
    inode: int
    offset: int
    line_no: int
    head: bytes | None


@dataclass
class FollowResult:
    """What one :func:`follow_queue_log` pass did."""

    lines: int = 0
    lines_stored: int = 0
    malformed: int = 0
    calls: int = 0
    rotated: bool = False
    rotated_tail_read: bool = False
    truncated: bool = False
    callids: set[str] = field(default_factory=set)
    earliest_entered_ms: int | None = None


@dataclass(frozen=True)
class _Piece:
    path: str
    inode: int
    start: int
    data: bytes  # complete lines only
    lookback: bytes  # complete lines just before ``start``
    head: bytes | None
    old_file: bool  # the rotated file at ``<path>.1``
    restart: str  # "", "rotated", "truncated"


def _head(fh: Any) -> bytes | None:
    fh.seek(0)
    first = fh.read(HEAD_BYTES)
    end = first.find(b"\n")
    if end < 0:
        return None
    return hashlib.blake2b(first[:end], digest_size=16).digest()


def _complete(fh: Any, start: int, limit: int) -> tuple[bytes, bytes]:
    """Complete lines from ``start`` (up to ``limit`` bytes unless one line is longer),
    and the complete lines within LOOKBACK_BYTES before ``start``."""
    back_from = max(0, start - LOOKBACK_BYTES)
    fh.seek(back_from)
    lookback = fh.read(start - back_from)
    if back_from > 0:
        cut = lookback.find(b"\n")
        lookback = b"" if cut < 0 else lookback[cut + 1 :]
    data = fh.read(limit)
    end = data.rfind(b"\n")
    while end < 0:  # one line longer than the limit: read on to its end (or EOF)
        more = fh.read(limit)
        if not more:
            return b"", lookback
        data += more
        end = data.rfind(b"\n")
    return data[: end + 1], lookback


def _read_piece(path: Path, state: FollowState | None, limit: int) -> _Piece:
    """The next piece to store (blocking file I/O: run in a thread)."""
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise QueueLogError(f"no se puede leer {path}: {exc.strerror}") from exc
    with fh:
        st = os.fstat(fh.fileno())
        head = _head(fh)
        restart = ""
        start = 0
        if state is not None:
            if state.inode != st.st_ino:
                old = _old_file(path, state, limit)
                if old is not None:
                    return old
                restart = "rotated"
            elif st.st_size < state.offset or (
                state.head is not None and head is not None and head != state.head
            ):
                restart = "truncated"
            else:
                start = state.offset
        data, lookback = _complete(fh, start, limit)
        return _Piece(str(path), st.st_ino, start, data, lookback, head, False, restart)


def _old_file(path: Path, state: FollowState, limit: int) -> _Piece | None:
    """The unread rest of the rotated file, when ``<path>.1`` is still it."""
    rotated = path.with_name(path.name + ".1")
    try:
        fh = rotated.open("rb")
    except OSError:
        return None
    with fh:
        st = os.fstat(fh.fileno())
        if st.st_ino != state.inode or st.st_size <= state.offset:
            return None
        data, lookback = _complete(fh, state.offset, limit)
        if not data:
            return None
        return _Piece(str(rotated), st.st_ino, state.offset, data, lookback, state.head, True, "")


def _parse(text: str, first_line_no: int) -> tuple[list[QueueLogLine], int, int]:
    """The good lines (numbered as ``iter_lines`` numbers a whole file), the number of
    malformed ones, and the number of lines."""
    out: list[QueueLogLine] = []
    malformed = 0
    raws = text.splitlines()
    for number, raw in enumerate(raws, start=first_line_no):
        stripped = raw.rstrip("\r")
        if stripped.strip():
            item = parse_line(stripped, number)
            if isinstance(item, QueueLogLine):
                out.append(item)
            else:
                malformed += 1
    return out, malformed, len(raws)


async def load_state(engine: AsyncEngine, pbx_id: str) -> FollowState | None:
    """The follower's stored position for ``pbx_id`` (None before its first read)."""
    c = ql_follow_state.c
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(c.path, c.inode, c.byte_offset, c.line_no, c.head).where(
                    c.pbx_id == pbx_id
                )
            )
        ).first()
    if row is None:
        return None
    return FollowState(
        str(row.path), int(row.inode), int(row.byte_offset), int(row.line_no), row.head
    )


async def _save_state(conn: AsyncConnection, pbx_id: str, state: FollowState) -> None:
    values = {
        "path": state.path,
        "inode": state.inode,
        "byte_offset": state.offset,
        "line_no": state.line_no,
        "head": state.head,
        "updated_ms": int(time.time() * 1000),
    }
    stmt = _insert(conn, ql_follow_state).values(pbx_id=pbx_id, **values)
    await conn.execute(stmt.on_conflict_do_update(index_elements=["pbx_id"], set_=values))


async def _store(
    conn: AsyncConnection, pbx_id: str, lines: Sequence[QueueLogLine], seen: dict[str, int]
) -> int:
    rows = [line_row(pbx_id, line, digest, "follow") for line, digest in line_digests(lines, seen)]
    if not rows:
        return 0
    stmt = (
        _insert(conn, ql_lines)
        .on_conflict_do_nothing(index_elements=["pbx_id", "digest"])
        .returning(ql_lines.c.id)  # executemany's rowcount is not reliable on asyncpg
    )
    stored = 0
    for start in range(0, len(rows), 5000):
        result = await conn.execute(stmt, rows[start : start + 5000])
        stored += len(result.all())
    return stored


async def follow_queue_log(
    engine: AsyncEngine,
    pbx_id: str,
    path: str | Path,
    *,
    service_for_queue: Callable[[str], str] = service_of_queue,
    piece_bytes: int = PIECE_BYTES,
) -> FollowResult:
    """Read what was appended to the queue_log since the last pass, store and fold it.

    Raises:
        QueueLogError: the file cannot be opened (the stored position is kept).
    """
    path = Path(path)
    result = FollowResult()
    state = await load_state(engine, pbx_id)
    while True:
        piece = await asyncio.to_thread(_read_piece, path, state, piece_bytes)
        result.rotated |= piece.restart == "rotated"
        result.truncated |= piece.restart == "truncated"
        result.rotated_tail_read |= piece.old_file
        line_no = 0 if piece.restart or state is None else state.line_no
        text = piece.data.decode("utf-8", errors="replace")
        lines, malformed, count = _parse(text, line_no + 1)
        new_state = FollowState(
            str(path), piece.inode, piece.start + len(piece.data), line_no + count, piece.head
        )
        if new_state == state:
            return result  # nothing new
        seen: dict[str, int] = {}
        for line in _parse(piece.lookback.decode("utf-8", errors="replace"), 0)[0]:
            seen[line.raw] = seen.get(line.raw, 0) + 1
        result.lines += len(lines)
        result.malformed += malformed
        async with engine.begin() as conn:
            stored = await _store(conn, pbx_id, lines, seen)
            result.lines_stored += stored
            callids = {
                ln.callid for ln in lines if ln.verb in CALL_VERBS and ln.callid not in NOT_CALLS
            }
            if stored and callids:
                await _fold(conn, pbx_id, callids, service_for_queue, result)
            await _save_state(conn, pbx_id, new_state)
        state = new_state


async def _fold(
    conn: AsyncConnection,
    pbx_id: str,
    callids: set[str],
    service_for_queue: Callable[[str], str],
    result: FollowResult,
) -> None:
    """Refold these callids from every stored line of theirs into ``ql_calls``."""
    folded = await _refold_stored(conn, pbx_id, callids, service_for_queue)
    n_calls, _entries = await _replace_calls(conn, pbx_id, list(folded.values()))
    result.calls += n_calls
    result.callids |= callids
    for call in folded.values():
        if call.entries:
            first = call.entries[0].entered_s * 1000
            if result.earliest_entered_ms is None or first < result.earliest_entered_ms:
                result.earliest_entered_ms = first
