"""The daemon's healing from queue_log: the task (faults logged once, never raised; a pass
after every login), the daemon filling calls it never saw, ``centralita rebuild`` giving
the live records back, and ``doctor``'s finding."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from centralita.ami_listener.ingest import ingest_capture
from centralita.ami_listener.schema import calls, queue_entries
from centralita.ami_listener.store import make_engine
from centralita.cli import main as cli_main
from centralita.daemon import Daemon
from centralita.db import migrate
from centralita.demo import free_port
from centralita.healing import Healer, check_queue_log
from centralita.metrics.service_level import service_of_queue
from centralita.settings import Settings, load_settings, parse_settings
from centralita.simulator.capture_server import CaptureServer
from tests.conftest import FIXTURES

CAPTURE = "GIT-master-f0c1c1a7b7"
SECRET = "healing-test-secret-7"
PBX = "lab"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The CLI configures logging on the captured stderr: put the handlers back after."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    yield
    root.handlers[:] = saved
    root.setLevel(level)


def queue_log_callers() -> list[str]:
    text = (FIXTURES / f"{CAPTURE}-queue_log").read_text()
    return [ln.split("|")[1] for ln in text.splitlines() if "|ENTERQUEUE|" in ln]


def without_callers(uniqueids: set[str]) -> bytes:
    """The capture without any frame naming these callers: calls that began and ended
    while the daemon was away (Asterisk never replays them over AMI)."""
    data = (FIXTURES / f"{CAPTURE}-scenario.ami").read_bytes()
    frames = data.split(b"\r\n\r\n")
    return b"\r\n\r\n".join(f for f in frames if not any(u.encode() in f for u in uniqueids))


async def snapshot(engine: AsyncEngine) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    async with engine.connect() as conn:
        rows = await conn.execute(sa.select(calls).order_by(calls.c.pbx_id, calls.c.uniqueid))
        entries = await conn.execute(
            sa.select(queue_entries).order_by(
                queue_entries.c.pbx_id, queue_entries.c.uniqueid, queue_entries.c.seq
            )
        )
        return [dict(r._mapping) for r in rows], [dict(r._mapping) for r in entries]


async def test_a_fault_is_logged_once_and_never_raised(sqlite_url: str, tmp_path: Path):
    engine = make_engine(sqlite_url)
    await migrate(engine)
    path = tmp_path / "queue_log"
    healer = Healer(engine, PBX, str(path), service_for_queue=service_of_queue)
    try:
        with capture_logs() as logs:
            assert await healer.cycle("interval") is False  # no file yet
            assert await healer.cycle("interval") is False
            shutil.copy(FIXTURES / f"{CAPTURE}-queue_log", path)
            assert await healer.cycle("interval") is True
        failed = [e for e in logs if e["event"] == "queue_log_healing_failed"]
        # Once as an error; the repeat at debug level (which a configured level may drop).
        assert [e["log_level"] for e in failed if e["log_level"] != "debug"] == ["error"]
        assert any(e["event"] == "queue_log_healing_restored" for e in logs)
        assert healer.stats.failing == "" and healer.stats.failures == 2
        assert healer.stats.inserted == len(set(queue_log_callers()))  # no AMI records here
    finally:
        await engine.dispose()
    # A database that cannot be opened: no exception, just a failed pass.
    broken = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'no-such-dir' / 'x.db'}")
    try:
        with capture_logs() as logs:
            bad = Healer(broken, PBX, str(path), service_for_queue=service_of_queue)
            assert await bad.cycle("login") is False
        assert [e["event"] for e in logs] == ["queue_log_healing_failed"]
    finally:
        await broken.dispose()


async def test_a_pass_after_every_login(sqlite_url: str, tmp_path: Path):
    engine = make_engine(sqlite_url)
    await migrate(engine)
    path = tmp_path / "queue_log"
    path.write_text("")
    reasons: asyncio.Queue[str] = asyncio.Queue()

    class Recording(Healer):
        async def cycle(self, reason: str, now_ms: int | None = None) -> bool:
            await reasons.put(reason)
            return await super().cycle(reason, now_ms)

    healer = Recording(engine, PBX, str(path), service_for_queue=service_of_queue)
    logins = [1]
    stop = asyncio.Event()
    task = asyncio.create_task(healer.run(stop, interval_s=3600, logins=lambda: logins[0]))
    try:
        assert await asyncio.wait_for(reasons.get(), 10) == "login"  # the first login
        logins[0] = 2  # a reconnection
        assert await asyncio.wait_for(reasons.get(), 10) == "login"
        assert reasons.empty()
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await engine.dispose()


def settings_for(tmp_path: Path, ami_port: int, queue_log: Path) -> Settings:
    secret_file = tmp_path / "ami.secret"
    secret_file.write_text(SECRET + "\n")
    text = (
        f'pbx_id = "{PBX}"\n'
        f'[ami]\nport = {ami_port}\nsecret_file = "{secret_file}"\n'
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "d.db"}"\n'
        "[ivr]\nenabled = false\n"
        f"[http]\nport = {free_port()}\n"
        f'[queue_log]\npath = "{queue_log}"\ninterval_s = 1.0\n'
    )
    (tmp_path / "centralita.toml").write_text(text)
    return load_settings(str(tmp_path / "centralita.toml"))


async def test_daemon_fills_the_calls_it_never_saw(tmp_path: Path):
    callers = queue_log_callers()
    unseen = set(callers[10:20])
    server = CaptureServer(without_callers(unseen), secret=SECRET, max_write=3000)
    ami_port = await server.start()
    queue_log = tmp_path / "queue_log"
    shutil.copy(FIXTURES / f"{CAPTURE}-queue_log", queue_log)
    daemon = Daemon(settings_for(tmp_path, ami_port, queue_log))
    await daemon.build()
    runner = asyncio.create_task(daemon.run())
    try:
        await asyncio.wait_for(server.finished.wait(), 60)
        parts = daemon.parts
        assert parts is not None
        await parts.listener.drain(timeout_s=30)
        await asyncio.wait_for(daemon.ready.wait(), 10)
        healer = parts.extra["healer"]
        healer.cycle_done.clear()
        await asyncio.wait_for(healer.cycle_done.wait(), 30)  # a pass after the drain
        rows, _entries = await snapshot(parts.engine)
    finally:
        daemon.stop()
        assert await asyncio.wait_for(runner, 30) == 0
        await server.close()
    by_source: dict[str, set[str]] = {}
    for row in rows:
        by_source.setdefault(row["source"], set()).add(row["uniqueid"])
    assert by_source["queue_log"] == unseen
    assert len(rows) == len(set(callers))  # every caller once


async def test_rebuild_heals_again_and_equals_live(db_url: str, tmp_path: Path):
    unseen = set(queue_log_callers()[3:9])
    engine = make_engine(db_url)
    await migrate(engine)
    try:
        await ingest_capture(without_callers(unseen), engine, PBX)
        healer = Healer(
            engine, PBX, str(FIXTURES / f"{CAPTURE}-queue_log"), service_for_queue=service_of_queue
        )
        assert await healer.cycle("login")
        live = await snapshot(engine)
        assert {r["uniqueid"] for r in live[0] if r["source"] == "queue_log"} == unseen
        code = await asyncio.to_thread(cli_main, ["rebuild", "--db", db_url, "--pbx", PBX])
        assert code == 0
        assert await snapshot(engine) == live
    finally:
        await engine.dispose()


def test_doctor_says_healing_is_off_or_checks_the_file(tmp_path: Path):
    (off,) = check_queue_log(parse_settings(""))
    assert off.status == "warn" and "desactivada" in off.message
    missing = tmp_path / "queue_log"
    settings = parse_settings(f'[queue_log]\npath = "{missing}"\n')
    (finding,) = check_queue_log(settings)
    assert finding.status == "fail" and str(missing) in finding.message
    missing.write_text("")
    (finding,) = check_queue_log(settings)
    assert finding.status == "ok" and "legible" in finding.message
    unreadable = msgspec.structs.replace(
        settings, queue_log=msgspec.structs.replace(settings.queue_log, path=str(tmp_path))
    )
    (finding,) = check_queue_log(unreadable)
    assert finding.status == "fail"
