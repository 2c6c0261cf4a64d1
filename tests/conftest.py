"""Shared fixtures: fixture paths, service availability, and the two-database `db_url`."""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# CI gates a merge, so its property tests explore the same examples on every run (a
# failure found there reproduces); a developer's runs keep exploring new ones.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CENTRALITA_REQUIRE_SERVICES") == "1":
    settings.load_profile("ci")

FIXTURES = Path(__file__).parent / "fixtures"
PG_HOST = os.environ.get("CENTRALITA_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("CENTRALITA_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("CENTRALITA_TEST_PG_USER", "")
MQTT_HOST = os.environ.get("CENTRALITA_TEST_MQTT_HOST", "127.0.0.1")
MQTT_PORT = int(os.environ.get("CENTRALITA_TEST_MQTT_PORT", "1883"))


@pytest.fixture(autouse=True)
def _state_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A daemon started by a test keeps its generated files (the console's session key)
    in the test's own folder, never in the working tree."""
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path))


def port_open(host: str, port: int) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip the test when the service is down; under CI (CENTRALITA_REQUIRE_SERVICES=1) fail."""
    if port_open(host, port):
        return
    reason = f"{name} is not reachable at {host}:{port}"
    if os.environ.get("CENTRALITA_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} and CENTRALITA_REQUIRE_SERVICES=1")
    pytest.skip(reason)


@pytest.fixture
def mqtt_broker() -> tuple[str, int]:
    """Host and port of the real Mosquitto broker (skips or fails when down)."""
    require_service("Mosquitto", MQTT_HOST, MQTT_PORT)
    return MQTT_HOST, MQTT_PORT


def _pg_base() -> str:
    user = f"{PG_USER}@" if PG_USER else ""
    return f"postgresql+asyncpg://{user}{PG_HOST}:{PG_PORT}"


@contextlib.asynccontextmanager
async def fresh_postgres_db() -> AsyncIterator[str]:
    """Create an empty PostgreSQL database, yield its URL, drop it afterwards."""
    require_service("PostgreSQL", PG_HOST, PG_PORT)
    import asyncpg

    name = f"centralita_t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, database="test", user=PG_USER or None)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"{_pg_base()}/{name}"
    finally:
        admin = await asyncpg.connect(
            host=PG_HOST, port=PG_PORT, database="test", user=PG_USER or None
        )
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    async with fresh_postgres_db() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database file for one test."""
    return f"sqlite+aiosqlite:///{tmp_path / 'centralita.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Run the test once on SQLite and once on the real PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'centralita.db'}"
        return
    async with fresh_postgres_db() as url:
        yield url


async def upgrade_to(engine: Any, revision: str) -> None:
    """Bring a database to one Alembic revision (a migration test's "previous version")."""
    from alembic import command

    from centralita.db import alembic_config

    def run(sync_conn: Any) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = sync_conn
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)
