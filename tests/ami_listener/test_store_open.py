"""Opening a SQLite database that cannot be opened leaves no thread behind to fail later."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from centralita.ami_listener.store import make_engine


def test_a_failed_open_never_leaves_a_thread_that_outlives_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # aiosqlite stops the worker thread of a failed open without waiting for it: when the
    # loop closed first (a command that fails and exits at once), that thread died with
    # "Event loop is closed". Before the fix about a third of these rounds did.
    died: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda a: died.append(a.exc_value))
    url = f"sqlite+aiosqlite:///{tmp_path / 'no-such-dir' / 'x.db'}"

    async def fail_to_open() -> None:
        engine = make_engine(url)
        try:
            with pytest.raises(Exception, match="unable to open"):
                async with engine.connect():
                    pass
        finally:
            await engine.dispose()

    for _ in range(100):
        asyncio.run(fail_to_open())
    workers = [t for t in threading.enumerate() if "_connection_worker_thread" in t.name]
    for t in workers:
        t.join(2)
    assert died == []


async def test_an_opened_database_still_works(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'ok.db'}")
    try:
        async with engine.connect() as conn:
            mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
        assert mode == "wal"  # the pragmas still run on a connection made this way
    finally:
        await engine.dispose()
