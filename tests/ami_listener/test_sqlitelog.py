"""The C event-log writer for SQLite (``ami_listener._sqlitelog``) against the Python path.

The same spans stored by ``EventLogWriter.write`` and by the Python rows + INSERT
(``eventlog.py_span_rows`` + ``store.insert_events``) must leave byte-identical tables:
the captures, and arbitrary bytes (invalid UTF-8 stored as Latin-1 text, odd Timestamps,
long event names, NUL bytes, uniqueids and queues longer than their columns). Skipped
where the extension is not built, except under ``.ci/run``.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from centralita.ami_listener import eventlog
from centralita.ami_listener.store import create_schema, insert_events, make_engine
from tests.conftest import FIXTURES

try:
    sqlitelog: Any = importlib.import_module("centralita.ami_listener._sqlitelog")
except ImportError:
    if os.environ.get("CENTRALITA_REQUIRE_SERVICES"):
        pytest.fail("the C extension ami_listener._sqlitelog was not built", pytrace=False)
    pytest.skip("the C extension ami_listener._sqlitelog is not built", allow_module_level=True)

COLUMNS = "pbx_id, digest, event, ts_ms, received_ms, uniqueid, linkedid, queue, raw"


def new_db(path: Path) -> None:
    async def create() -> None:
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
        await create_schema(engine)
        await engine.dispose()

    asyncio.run(create())


def stored(path: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT {COLUMNS} FROM ami_events ORDER BY id").fetchall()
    finally:
        conn.close()


def both(tmp: Path, spans: list[tuple[bytes, int]]) -> tuple[list[Any], list[Any], Any]:
    c_path, py_path = tmp / "c.db", tmp / "py.db"
    for path in (c_path, py_path):
        path.unlink(missing_ok=True)
        new_db(path)
    writer = sqlitelog.EventLogWriter(str(c_path), "pbx-1")
    try:
        result = writer.write(spans)
    finally:
        writer.close()
    engine = sa.create_engine(f"sqlite:///{py_path}")
    with engine.begin() as conn:
        for span, received_ms in spans:
            insert_events(conn, eventlog.py_span_rows("pbx-1", span, received_ms))
    engine.dispose()
    return stored(c_path), stored(py_path), result


@pytest.mark.parametrize("capture", sorted(FIXTURES.glob("*.ami")), ids=lambda p: p.name)
def test_captures_stored_identically(capture: Path, tmp_path: Path) -> None:
    data = capture.read_bytes().replace(b"\r\n", b"\n")
    frames = [f for f in data.split(b"\n\n") if f.strip(b"\n")]
    spans = [
        (eventlog.join_frames(frames[i : i + 97]), 1_795_930_000_000 + i)
        for i in range(0, len(frames), 97)
    ]
    c_rows, py_rows, (n_frames, inserted) = both(tmp_path, spans)
    assert c_rows == py_rows
    assert n_frames == len(frames) and inserted == len(c_rows) > 20


frame_text = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "Event: VarSet",
                "Event: " + "Ñ" * 70,
                "Timestamp: 1795930000.123456",
                "Timestamp: 1e30",
                "Timestamp: nan",
                "Timestamp:  12.5 ",
                "Timestamp: 1_795_930_000",
                "Uniqueid: 1795930000.1",
                "Uniqueid: ",
                "Uniqueid: 1795930000." + "7" * 160,
                "Uniqueid: " + "ü" * 149 + "\x00x",
                "Linkedid: ü",
                "Linkedid: a\x00b",
                "Queue: q101",
                "Queue: " + "q" * 81,
                "Text: \x00",
            ]
        ),
        st.text(max_size=30),
    ),
    max_size=8,
).map("\n".join)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    frames=st.lists(
        st.one_of(
            frame_text.map(lambda t: t.encode("utf-8", "surrogatepass")),
            frame_text.map(lambda t: t.encode("latin-1", "replace")),
            st.binary(max_size=120),
        ),
        max_size=6,
    )
)
def test_arbitrary_frames_stored_identically(frames: list[bytes], tmp_path: Path) -> None:
    frames = [f.replace(b"\n\n", b"\n") for f in frames]
    c_rows, py_rows, _result = both(tmp_path, [(eventlog.join_frames(frames), 7)])
    assert c_rows == py_rows


def test_values_made_storable_as_the_python_path_does(tmp_path: Path) -> None:
    long_uid = "1795930000." + "9" * 150
    frame = (
        f"Event: Newchannel\nTimestamp: 1795930000.5\nUniqueid: {long_uid}\n"
        f"Linkedid: a\x00b\nQueue: {'q' * 90}\nCallerIDName: Ana\x00"
    ).encode()
    c_rows, py_rows, _result = both(tmp_path, [(frame, 7)])
    assert c_rows == py_rows
    (row,) = c_rows
    uniqueid, linkedid, queue, raw = row[5:]
    assert uniqueid == long_uid[:150] and linkedid == "a\ufffdb" and queue == "q" * 80
    assert raw == frame.decode().replace("\x00", "\ufffd")  # the raw text is never cut
    assert row[1] == eventlog.log_key(frame, 1_795_930_000_500)  # the key: the frame's bytes


def test_same_spans_twice_store_nothing_more(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    new_db(path)
    data = (FIXTURES / "GIT-16-113871b5f5-scenario.ami").read_bytes().replace(b"\r\n", b"\n")
    spans = [(data.strip(b"\n"), 5)]
    writer = sqlitelog.EventLogWriter(str(path), "pbx-1")
    try:
        frames, inserted = writer.write(spans)
        assert inserted > 0
        assert writer.write(spans) == (frames, 0)
    finally:
        writer.close()
    assert len(stored(path)) == inserted


def test_a_locked_database_raises_and_stores_nothing(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    new_db(path)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    writer = sqlitelog.EventLogWriter(str(path), "pbx-1", busy_timeout_ms=50)
    try:
        with pytest.raises(sqlitelog.Error, match="locked") as raised:
            writer.write([(b"Event: X\nTimestamp: 1", 5)])
        assert raised.value.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY  # an outage
        blocker.execute("ROLLBACK")
        assert writer.write([(b"Event: X\nTimestamp: 1", 5)]) == (1, 1)
    finally:
        writer.close()
        blocker.close()
    assert len(stored(path)) == 1


def test_a_missing_database_is_an_error_not_a_new_file(tmp_path: Path) -> None:
    with pytest.raises(sqlitelog.Error, match="cannot open"):
        sqlitelog.EventLogWriter(str(tmp_path / "absent.db"), "pbx-1")
    assert not (tmp_path / "absent.db").exists()


def test_used_only_with_the_sqlite_python_uses() -> None:
    """Two copies of SQLite in one process would not see each other's locks: the store
    enables the C writer only when Python's _sqlite3 calls the same library."""
    import _sqlite3

    from centralita.ami_listener import protocol, store

    assert _sqlite3.__file__ is not None
    assert sqlitelog.same_library_as(_sqlite3.__file__)  # this machine: one system SQLite
    assert protocol.speedups is not None
    assert not sqlitelog.same_library_as(protocol.speedups.__file__)  # no SQLite in there
    assert not sqlitelog.same_library_as("/nonexistent/_sqlite3.so")
    assert store._sqlitelog is sqlitelog
