"""Garbage between good AMI frames never loses a good frame (issue 15, acceptance).

A real Asterisk 11 stream (the start of the bundled capture: banner, login, five whole
calls) goes through the same path as ``centralita ingest-file`` (parser, pipeline, store)
once clean and once with arbitrary bytes inserted between its frames: stray
``Response: Follows`` without their end marker, cut frame starts, NUL bytes, invalid
UTF-8, bare ``\\r``... Every good event frame must reach the event log, in order, and the
call records must be the ones of the clean stream, on SQLite and on PostgreSQL.

Each inserted piece ends with a blank line, as a frame does. Bytes glued to the next
frame's first line without a line end cannot be told apart from it in general (``User``
glued to ``Event: Hangup`` is the valid header ``UserEvent: Hangup``), so they are not
inserted.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from centralita.ami_listener.ingest import ingest_capture
from centralita.ami_listener.schema import ami_events, calls, queue_entries
from centralita.ami_listener.store import create_schema, make_engine
from tests.conftest import FIXTURES

CAPTURE = FIXTURES / "GIT-11-f3cdc37300-scenario.ami"
FRAMES = [f + b"\r\n\r\n" for f in CAPTURE.read_bytes().split(b"\r\n\r\n")[:800]]
GOOD_EVENTS = [
    f[:-4].replace(b"\r\n", b"\n").decode("utf-8") for f in FRAMES if f.startswith(b"Event: ")
]

PIECES = [
    b"Response: Follows\r\n",
    b"Response: Follows\r\nPrivilege: Command\r\nActionID: 3\r\npartial output",
    b"--END COMMAND--",
    b"Event: ",
    b"Event",
    b"Response: ",
    b"Respo",
    b"Asterisk Call Manager/",
    b"ActionID: 12\r\n",
    b": ",
    b"\r\n",
    b"\n",
    b"\r",
    b"\x00",
    b"\xff\xfe",
    "José".encode(),
    "Peña".encode("latin-1"),
]
garbage = st.lists(st.one_of(st.binary(max_size=40), st.sampled_from(PIECES)), max_size=6).map(
    lambda parts: b"".join(parts) + b"\r\n\r\n"
)
insertions = st.lists(
    st.tuples(st.integers(min_value=0, max_value=len(FRAMES)), garbage), min_size=1, max_size=8
)


def with_garbage(inserted: list[tuple[int, bytes]]) -> bytes:
    at: dict[int, list[bytes]] = {}
    for index, junk in inserted:
        at.setdefault(index, []).append(junk)
    out: list[bytes] = []
    for index, frame in enumerate(FRAMES):
        out.extend(at.get(index, []))
        out.append(frame)
    out.extend(at.get(len(FRAMES), []))
    return b"".join(out)


async def stored(url: str, pbx_id: str) -> tuple[list[str], list[Any], list[Any]]:
    """The event log's texts, the call records and the queue stays of one PBX."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            log = await conn.execute(
                sa.select(ami_events.c.raw)
                .where(ami_events.c.pbx_id == pbx_id)
                .order_by(ami_events.c.id)
            )
            raws = [row[0] for row in log]
            records = []
            for table in (calls, queue_entries):
                columns = [c for c in table.c if c.name != "pbx_id"]
                rows = await conn.execute(sa.select(*columns).where(table.c.pbx_id == pbx_id))
                records.append(sorted(tuple(row) for row in rows))
    finally:
        await engine.dispose()
    return raws, records[0], records[1]


async def ingest(url: str, data: bytes) -> str:
    pbx_id = f"g-{uuid.uuid4().hex[:12]}"  # hypothesis replays examples: one PBX each
    engine = make_engine(url)
    try:
        await create_schema(engine)
        await ingest_capture(data, engine, pbx_id)
    finally:
        await engine.dispose()
    return pbx_id


def is_subsequence(wanted: list[str], got: list[str]) -> bool:
    remaining = iter(got)
    return all(any(item == other for other in remaining) for item in wanted)


def test_garbage_between_frames_loses_no_good_frame(db_url: str) -> None:
    clean_pbx = asyncio.run(ingest(db_url, b"".join(FRAMES)))
    clean_log, clean_calls, clean_stays = asyncio.run(stored(db_url, clean_pbx))
    assert clean_log == GOOD_EVENTS  # the clean stream is stored exactly
    assert len(clean_calls) == 5 and len(clean_stays) >= 5

    @settings(
        max_examples=15,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(insertions)
    @example([(5, b"Event: Junk\x00\xff\r\nUniqueid: \x00\r\n\r\n")])  # NUL, bad UTF-8
    @example([(1, b"Response: Follows\r\n\r\n"), (len(FRAMES), b"Response: Follows\r\n")])
    def check(inserted: list[tuple[int, bytes]]) -> None:
        pbx_id = asyncio.run(ingest(db_url, with_garbage(inserted)))
        log, records, stays = asyncio.run(stored(db_url, pbx_id))
        assert is_subsequence(GOOD_EVENTS, log)
        assert records == clean_calls
        assert stays == clean_stays

    check()


def test_a_stray_follows_between_calls_costs_nothing(db_url: str) -> None:
    """The issue's case: a Follows without its end marker in the middle of the stream
    used to swallow every event after it (up to the 1 MB frame limit)."""
    stray = b"Response: Follows\r\nPrivilege: Command\r\nActionID: c1\r\nno marker\r\n\r\n"
    pbx_id = asyncio.run(ingest(db_url, with_garbage([(3, stray), (400, stray)])))
    clean_pbx = asyncio.run(ingest(db_url, b"".join(FRAMES)))
    got, want = asyncio.run(stored(db_url, pbx_id)), asyncio.run(stored(db_url, clean_pbx))
    assert got[0] == GOOD_EVENTS
    assert got[1:] == want[1:] and len(got[1]) == 5
