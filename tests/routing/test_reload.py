"""RoutingHolder: a good file swaps the table, a bad file keeps the old one and says why."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from centralita.routing import RoutingConfigError, RoutingHolder
from tests.routing.conftest import BASE, SECOND


def write(path: Path, text: str, *, bump_s: int = 0) -> None:
    path.write_text(text, encoding="utf-8")
    if bump_s:  # make the change visible even on coarse mtime file systems
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + bump_s * 1_000_000_000))


@pytest.fixture
def routing_file(tmp_path: Path) -> Path:
    path = tmp_path / "routing.toml"
    write(path, BASE)
    return path


def test_good_file_swaps(routing_file: Path) -> None:
    holder = RoutingHolder(routing_file)
    old = holder.table
    assert holder.table.service_for_number("104") is None
    write(routing_file, BASE + SECOND)
    with capture_logs() as logs:
        assert holder.reload() is True
    assert holder.table is not old
    assert holder.table.service_for_number("104") is not None
    assert holder.generation == 1
    assert [e["event"] for e in logs] == ["routing_reloaded"]
    assert logs[0]["services"] == 2


def test_bad_file_keeps_the_old_table(routing_file: Path) -> None:
    holder = RoutingHolder(routing_file)
    old = holder.table
    write(routing_file, BASE + SECOND.replace('queue = "q104"', 'queue = "q99"'))
    with capture_logs() as logs:
        assert holder.reload() is False
    assert holder.table is old
    assert holder.generation == 0
    [entry] = logs
    assert entry["event"] == "routing_reload_rejected"
    assert entry["log_level"] == "error"
    assert "service[1].queue: cola desconocida «q99»" in entry["errors"]
    assert entry["path"] == str(routing_file)


def test_missing_file_keeps_the_old_table(routing_file: Path) -> None:
    holder = RoutingHolder(routing_file)
    old = holder.table
    routing_file.unlink()
    with capture_logs() as logs:
        assert holder.reload() is False
    assert holder.table is old
    assert logs[0]["errors"] == ["(archivo): no se puede leer (no existe)"]


def test_bad_initial_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "routing.toml"
    write(path, "version = 2\n")
    with pytest.raises(RoutingConfigError) as info:
        RoutingHolder(path)
    assert info.value.errors == ["version: valor no admitido «2»"]


async def test_watch_reloads_on_change(routing_file: Path) -> None:
    holder = RoutingHolder(routing_file)
    task = asyncio.create_task(holder.watch(interval_s=0.01))
    try:
        with capture_logs() as logs:
            write(routing_file, BASE + SECOND, bump_s=2)
            for _ in range(200):
                if holder.generation:
                    break
                await asyncio.sleep(0.01)
            assert holder.table.service_for_number("104") is not None
            write(routing_file, "broken = ", bump_s=4)
            for _ in range(200):
                if any(e["event"] == "routing_reload_rejected" for e in logs):
                    break
                await asyncio.sleep(0.01)
        assert holder.table.service_for_number("104") is not None
        assert [e["event"] for e in logs] == ["routing_reloaded", "routing_reload_rejected"]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
