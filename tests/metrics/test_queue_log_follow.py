"""The queue_log follower: appends, partial lines, rotation, truncation, restarts — every
line stored once, calls folded, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.store import make_engine
from centralita.metrics.exceptions import QueueLogError
from centralita.metrics.queue_log_follow import follow_queue_log, load_state
from centralita.metrics.queue_log_import import import_queue_log
from centralita.metrics.schema import ql_calls, ql_lines
from tests.metrics.qlfiles import abandon, answered_call, append, enter

PBX = "pbx1"
T0 = 1_795_925_650


async def _lines(engine: AsyncEngine) -> list[tuple[int, str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(ql_lines.c.time_s, ql_lines.c.callid, ql_lines.c.verb).order_by(ql_lines.c.id)
        )
        return [(int(r.time_s), str(r.callid), str(r.verb)) for r in rows]


async def _calls(engine: AsyncEngine) -> dict[str, tuple[str, int | None]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(ql_calls.c.uniqueid, ql_calls.c.outcome, ql_calls.c.wait_asterisk_s)
        )
        return {r.uniqueid: (r.outcome, r.wait_asterisk_s) for r in rows}


async def test_appends_and_a_partial_line_waits(any_engine: AsyncEngine, tmp_path: Path):
    path = tmp_path / "queue_log"
    append(path, [*answered_call(T0, "100.1", 6, 30), enter(T0 + 2, "100.2")])
    with path.open("a") as fh:
        fh.write(f"{T0 + 9}|100.2|q101|NONE|ABAN")  # Asterisk mid-write
    first = await follow_queue_log(any_engine, PBX, path)
    assert (first.lines, first.lines_stored) == (4, 4)
    assert await _calls(any_engine) == {"100.1": ("answered", 6)}
    state = await load_state(any_engine, PBX)
    assert state is not None and state.offset == path.stat().st_size - len(
        f"{T0 + 9}|100.2|q101|NONE|ABAN"
    )
    with path.open("a") as fh:
        fh.write("DON|1|1|7\n")
    second = await follow_queue_log(any_engine, PBX, path)
    assert (second.lines, second.lines_stored) == (1, 1)
    assert await _calls(any_engine) == {"100.1": ("answered", 6), "100.2": ("abandoned", 7)}
    assert second.callids == {"100.2"}
    third = await follow_queue_log(any_engine, PBX, path)
    assert (third.lines, third.lines_stored) == (0, 0)


async def test_restart_resumes_where_it_stopped(db_url: str, tmp_path: Path):
    from centralita.ami_listener.store import create_schema as create_ami_schema
    from centralita.metrics.schema import create_schema

    path = tmp_path / "queue_log"
    append(path, answered_call(T0, "200.1", 3, 10))
    engine = make_engine(db_url)
    await create_ami_schema(engine)
    await create_schema(engine)
    await follow_queue_log(engine, PBX, path)
    await engine.dispose()
    append(path, answered_call(T0 + 60, "200.2", 4, 11))
    engine = make_engine(db_url)  # a new process: only the database remembers
    try:
        result = await follow_queue_log(engine, PBX, path)
        assert result.lines == 3  # only the appended lines were read
        assert [callid for _t, callid, _v in await _lines(engine)] == ["200.1"] * 3 + ["200.2"] * 3
        assert set(await _calls(engine)) == {"200.1", "200.2"}
    finally:
        await engine.dispose()


async def test_a_line_read_twice_is_stored_once(any_engine: AsyncEngine, tmp_path: Path):
    """Forgetting the position (or importing the same file by hand) stores nothing again."""
    path = tmp_path / "queue_log"
    text_lines = [
        *answered_call(T0, "300.1", 5, 20),
        enter(T0 + 1, "300.2"),
        abandon(T0 + 9, "300.2", 8),
    ]
    append(path, text_lines)
    await follow_queue_log(any_engine, PBX, path)
    async with any_engine.begin() as conn:
        await conn.execute(sa.text("DELETE FROM ql_follow_state"))
    again = await follow_queue_log(any_engine, PBX, path)
    assert (again.lines, again.lines_stored) == (5, 0)
    await import_queue_log(path.read_text(), any_engine, pbx_id=PBX)
    assert len(await _lines(any_engine)) == 5


async def test_identical_lines_across_pieces_are_numbered_as_an_import(
    any_engine: AsyncEngine, tmp_path: Path
):
    """Two identical lines (same second, same content) are two lines, also when they fall
    into different pieces: the follower numbers them as a whole-file import does."""
    path = tmp_path / "queue_log"
    same = f"{T0}|MANAGER|q101|Local/agent1@lab-agents|PAUSE|"
    append(path, [same, *answered_call(T0, "400.1", 2, 9), same])
    result = await follow_queue_log(any_engine, PBX, path, piece_bytes=40)
    assert result.lines_stored == 5
    await import_queue_log(path.read_text(), any_engine, pbx_id=PBX)
    verbs = [verb for _t, _c, verb in await _lines(any_engine)]
    assert verbs == ["PAUSE", "ENTERQUEUE", "CONNECT", "COMPLETECALLER", "PAUSE"]


async def test_rotation_finishes_the_old_file_then_reads_the_new(
    any_engine: AsyncEngine, tmp_path: Path
):
    path = tmp_path / "queue_log"
    append(path, [enter(T0, "500.1")])
    await follow_queue_log(any_engine, PBX, path)
    # Asterisk writes more, then rotates: the file becomes queue_log.1, a new one starts.
    append(path, answered_call(T0 + 5, "500.2", 3, 12)[:2])
    old_inode = path.stat().st_ino
    path.rename(tmp_path / "queue_log.1")
    append(
        path, [abandon(T0 + 30, "500.1", 30), f"{T0 + 35}|500.2|q101|Agent 1|COMPLETECALLER|3|27|1"]
    )
    result = await follow_queue_log(any_engine, PBX, path)
    assert result.rotated and result.rotated_tail_read
    assert result.lines == 4
    assert await _calls(any_engine) == {"500.1": ("abandoned", 30), "500.2": ("answered", 3)}
    state = await load_state(any_engine, PBX)
    assert state is not None
    assert state.inode == path.stat().st_ino != old_inode
    assert state.offset == path.stat().st_size
    assert state.path == str(path)


async def test_rotation_without_the_old_file_starts_the_new_one(
    any_engine: AsyncEngine, tmp_path: Path
):
    path = tmp_path / "queue_log"
    append(path, answered_call(T0, "600.1", 3, 12))
    await follow_queue_log(any_engine, PBX, path)
    path.rename(tmp_path / "queue_log-20261201")
    append(path, answered_call(T0 + 90, "600.2", 1, 5))
    result = await follow_queue_log(any_engine, PBX, path)
    assert result.rotated and not result.rotated_tail_read
    assert (result.lines, result.lines_stored) == (3, 3)
    assert set(await _calls(any_engine)) == {"600.1", "600.2"}


async def test_truncation_reads_from_the_start(any_engine: AsyncEngine, tmp_path: Path):
    path = tmp_path / "queue_log"
    append(path, [*answered_call(T0, "700.1", 3, 12), *answered_call(T0 + 1, "700.2", 3, 12)])
    await follow_queue_log(any_engine, PBX, path)
    inode = path.stat().st_ino
    path.write_text("")  # copytruncate: same inode, shorter file
    append(path, [enter(T0 + 100, "700.3"), abandon(T0 + 104, "700.3", 4)])
    assert path.stat().st_ino == inode
    result = await follow_queue_log(any_engine, PBX, path)
    assert result.truncated
    assert (result.lines, result.lines_stored) == (2, 2)
    assert set(await _calls(any_engine)) == {"700.1", "700.2", "700.3"}


async def test_truncated_and_grown_past_the_offset_is_noticed(
    any_engine: AsyncEngine, tmp_path: Path
):
    """Truncated then written again beyond the old offset before the next read: the first
    line changed, so the file is read from its start (nothing skipped)."""
    path = tmp_path / "queue_log"
    append(path, answered_call(T0, "800.1", 3, 12))
    await follow_queue_log(any_engine, PBX, path)
    path.write_text("")
    append(
        path, [*answered_call(T0 + 200, "800.2", 2, 40), *answered_call(T0 + 300, "800.3", 2, 40)]
    )
    state = await load_state(any_engine, PBX)
    assert state is not None and path.stat().st_size > state.offset
    result = await follow_queue_log(any_engine, PBX, path)
    assert result.truncated
    assert result.lines_stored == 6
    assert set(await _calls(any_engine)) == {"800.1", "800.2", "800.3"}


async def test_missing_file_is_an_error_and_keeps_the_position(
    any_engine: AsyncEngine, tmp_path: Path
):
    path = tmp_path / "queue_log"
    append(path, answered_call(T0, "900.1", 3, 12))
    await follow_queue_log(any_engine, PBX, path)
    before = await load_state(any_engine, PBX)
    os.rename(path, tmp_path / "elsewhere")
    with pytest.raises(QueueLogError):
        await follow_queue_log(any_engine, PBX, path)
    assert await load_state(any_engine, PBX) == before
