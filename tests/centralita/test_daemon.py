"""The daemon as `centralita run` starts it: settings, listener, HTTP /health and /metrics."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import msgspec
import pytest
import sqlalchemy as sa
from structlog.testing import capture_logs

from centralita.ami_listener.schema import calls
from centralita.daemon import Daemon
from centralita.demo import free_port
from centralita.settings import Settings, SettingsError, load_settings, parse_settings
from centralita.simulator.capture_server import CaptureServer
from tests.conftest import FIXTURES

SECRET = "daemon-test-secret-42"


def settings_for(tmp_path: Path, ami_port: int, http_port: int) -> Settings:
    db_file = tmp_path / "d.db"
    secret_file = tmp_path / "ami.secret"
    text = (
        'pbx_id = "lab"\n'
        f'[ami]\nport = {ami_port}\nsecret_file = "{secret_file}"\nping_interval_s = 5.0\n'
        f'[database]\nurl = "sqlite+aiosqlite:///{db_file}"\n'
        "[ivr]\nenabled = false\n"
        f"[http]\nport = {http_port}\n"
    )
    secret_file.write_text(SECRET + "\n")
    (tmp_path / "centralita.toml").write_text(text)
    return load_settings(str(tmp_path / "centralita.toml"))


async def first_answer(http: httpx.AsyncClient, path: str) -> httpx.Response:
    """GET ``path`` once the HTTP server listens (it starts with the daemon)."""
    for _ in range(200):
        try:
            return await http.get(path)
        except httpx.ConnectError:
            await asyncio.sleep(0.05)
    raise AssertionError(f"nothing answered on {path}")


async def test_daemon_ingests_a_capture_and_serves_health_and_metrics(tmp_path: Path) -> None:
    data = (FIXTURES / "GIT-master-f0c1c1a7b7-scenario.ami").read_bytes()
    server = CaptureServer(data, secret=SECRET, max_write=3000, drop_after=[5000])
    ami_port = await server.start()
    http_port = free_port()
    daemon = Daemon(settings_for(tmp_path, ami_port, http_port))
    with capture_logs() as logs:
        await daemon.build()
        runner = asyncio.create_task(daemon.run())
        await asyncio.wait_for(server.finished.wait(), 60)
        parts = daemon.parts
        assert parts is not None
        await parts.listener.drain(timeout_s=30)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}") as http:
            health = await first_answer(http, "/health")
            metrics = (await http.get("/metrics")).text
        daemon.stop()
        assert await asyncio.wait_for(runner, 30) == 0
    await server.close()
    assert health.status_code == 200
    assert health.json()["ami_connected"] is True
    assert 'centralita_calls_finished_total{pbx="lab"} 80' in metrics
    assert 'centralita_ami_reconnects_total{pbx="lab"} 1' in metrics
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'd.db'}")
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(calls)).scalar() == 80
    engine.dispose()
    assert SECRET not in repr(logs)


async def test_daemon_restart_rebuilds_open_calls_from_the_log(tmp_path: Path) -> None:
    """Stopped mid-stream and started again: calls in progress are not lost or doubled."""
    data = (FIXTURES / "GIT-16-113871b5f5-scenario.ami").read_bytes()
    server = CaptureServer(data, secret=SECRET)
    ami_port = await server.start()
    settings = settings_for(tmp_path, ami_port, free_port())
    settings = msgspec.structs.replace(
        settings, http=msgspec.structs.replace(settings.http, enabled=False)
    )
    first = Daemon(settings)
    await first.build()
    runner = asyncio.create_task(first.run())
    while server.position < 2000:
        await asyncio.sleep(0.01)
    first.stop()
    await asyncio.wait_for(runner, 30)
    assert first.parts is not None
    open_before = len(first.parts.tracker.calls)
    second = Daemon(settings)
    parts = await second.build()
    assert len(parts.tracker.calls) == open_before  # state rebuilt from the event log
    runner = asyncio.create_task(second.run())
    await asyncio.wait_for(server.finished.wait(), 60)
    await parts.listener.drain(timeout_s=30)
    second.stop()
    await asyncio.wait_for(runner, 30)
    await server.close()
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'd.db'}")
    with engine.connect() as conn:
        rows = conn.execute(sa.select(calls.c.outcome, calls.c.gap)).all()
    engine.dispose()
    assert len(rows) == 40
    assert sum(r.outcome == "answered" for r in rows) == 36
    assert not any(r.gap for r in rows)


def test_settings_errors_name_the_place(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"c\.toml: .*\$\.ami\.port"):
        parse_settings('[ami]\nport = "x"\n', "c.toml", env={})
    with pytest.raises(SettingsError, match=r"c\.toml: .*unknown field"):
        parse_settings("[ami]\nhots = 'x'\n", "c.toml", env={})
    with pytest.raises(SettingsError, match=r"ami\.secret_file"):
        parse_settings(
            f'[ami]\nsecret_file = "{tmp_path / "missing"}"\n', "c.toml", env={}
        ).ami_secret()


def test_secrets_come_from_the_environment_and_never_show() -> None:
    s = parse_settings(
        '[database]\nurl = "postgresql+asyncpg://cc@db/centralita"\n',
        "c.toml",
        env={"CENTRALITA_PBX_ID": "pbx7"},
    )
    assert s.pbx_id == "pbx7"
    import os

    os.environ["CENTRALITA_DB_PASSWORD"] = "pw-123"
    try:
        assert "pw-123" in s.database_url()
        assert "pw-123" not in s.safe_database_url()
    finally:
        del os.environ["CENTRALITA_DB_PASSWORD"]


async def test_migrations_create_every_table_on_both_databases(db_url: str) -> None:
    """Alembic (db-migrate, run at every start) creates all packages' tables, idempotently."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from centralita.db import all_metadata, migrate

    engine = create_async_engine(db_url)
    await migrate(engine)
    await migrate(engine)
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
        log_indexes = await conn.run_sync(
            lambda c: {i["name"] for i in sa.inspect(c).get_indexes("ami_events")}
        )
    await engine.dispose()
    assert "ix_ami_events_originate_ts" in log_indexes
    assert "ix_ami_events_event_ts" not in log_indexes
    expected = {t.name for md in all_metadata() for t in md.sorted_tables}
    assert expected <= names
    assert {"ami_events", "calls", "queue_entries", "ivr_calls", "customers", "ql_calls"} <= names


async def test_concurrent_migrations_on_one_database(db_url: str) -> None:
    """Several daemons starting together on an empty database: all succeed."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from centralita.db import migrate

    engines = [create_async_engine(db_url) for _ in range(3)]
    try:
        await asyncio.gather(*(migrate(e) for e in engines))
    finally:
        for e in engines:
            await e.dispose()


async def test_a_broken_console_users_file_never_stops_ingestion(tmp_path: Path) -> None:
    data = (FIXTURES / "GIT-11-f3cdc37300-scenario.ami").read_bytes()
    server = CaptureServer(data, secret=SECRET)
    ami_port = await server.start()
    http_port = free_port()
    settings = settings_for(tmp_path, ami_port, http_port)
    users = tmp_path / "users.toml"
    users.write_text("[[user]\nname=")
    settings = msgspec.structs.replace(
        settings, http=msgspec.structs.replace(settings.http, users_file=str(users))
    )
    daemon = Daemon(settings)
    await daemon.build()
    runner = asyncio.create_task(daemon.run())
    await asyncio.wait_for(server.finished.wait(), 60)
    parts = daemon.parts
    assert parts is not None
    await parts.listener.drain(timeout_s=30)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}") as http:
        health = (await first_answer(http, "/health")).json()
    assert not runner.done()
    daemon.stop()
    assert await asyncio.wait_for(runner, 30) == 0
    await server.close()
    assert "users.toml" in health["console_users_error"]
    assert parts.listener.pipeline.stats.calls_finished == 60
