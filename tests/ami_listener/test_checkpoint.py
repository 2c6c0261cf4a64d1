"""The SQLite checkpoint thread of the log writer."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from centralita.ami_listener.store import (
    WRITER_CACHE_KIB,
    Batch,
    BatchWriter,
    Checkpointer,
    create_schema,
    make_engine,
)


def wait_for(predicate: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def _table(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")  # only the thread checkpoints
    conn.execute("CREATE TABLE t (x BLOB)")
    return conn


def test_checkpoint_when_the_writer_goes_idle(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    conn = _table(path)
    before = path.stat().st_size
    checkpointer = Checkpointer(str(path), wal_bytes=64 << 10, max_wal_bytes=1 << 30, idle_s=0.2)
    try:
        for _ in range(60):
            conn.execute("INSERT INTO t VALUES (randomblob(10000))")
            checkpointer.committed()
        wait_for(lambda: checkpointer.checkpoints >= 1)  # once the commits stop
    finally:
        checkpointer.close()
    wait_for(lambda: path.stat().st_size > before + 500_000)
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (60,)
    conn.close()


def test_checkpoint_during_a_burst_past_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    conn = _table(path)
    # idle_s far longer than the test: only the cap can trigger it while commits go on
    checkpointer = Checkpointer(str(path), wal_bytes=1 << 30, max_wal_bytes=256 << 10, idle_s=60)
    try:
        for _ in range(2000):
            conn.execute("INSERT INTO t VALUES (randomblob(10000))")
            checkpointer.committed()
            if checkpointer.checkpoints:
                break
            time.sleep(0.005)
        assert checkpointer.checkpoints >= 1
    finally:
        checkpointer.close()
    conn.close()


async def test_the_writer_never_checkpoints_inline_and_starts_its_thread_on_first_write(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    await create_schema(engine)
    writer = BatchWriter(engine)
    try:
        assert writer._checkpointer is None  # a reader's BatchWriter never has one
        writer.write_blocking(Batch([]))
        assert isinstance(getattr(writer, "_checkpointer", None), Checkpointer)
        assert writer._sync is not None
        with writer._sync.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -WRITER_CACHE_KIB
    finally:
        writer.close()
        await engine.dispose()
