"""`centralita doctor` against the simulator, a closed port, a wrong secret, an empty or
unreachable database, a stopped broker and a broken routing file: each problem is named
in plain words and makes the exit code non-zero."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ami_listener.store import make_engine
from centralita.db import migrate
from centralita.doctor import Finding, diagnose, render
from centralita.settings import Settings, parse_settings
from simulator.config import lab_config
from simulator.runner import Simulator
from tests.brokers import free_port
from tests.integration.helpers import SECRET

pytestmark = pytest.mark.timeout(60)


def settings_for(tmp_path: Path, ami_port: int, db_url: str, extra: str = "") -> Settings:
    secret = tmp_path / "ami.secret"
    secret.write_text(SECRET, "utf-8")
    text = f"""
pbx_id = "doctor"
[ami]
port = {ami_port}
secret_file = "{secret}"
[database]
url = "{db_url}"
{extra}
"""
    return parse_settings(text, "<test>", env={})


async def migrated(url: str) -> str:
    engine = make_engine(url)
    await migrate(engine)
    await engine.dispose()
    return url


@contextlib.asynccontextmanager
async def busy_pbx() -> AsyncIterator[Simulator]:
    """The simulator running at 60x: calls (and their events) flow while doctor watches."""
    async with Simulator(lab_config(calls=0), seed=3, speed=60.0, secret=SECRET) as sim:
        run = asyncio.create_task(sim.run())
        try:
            yield sim
        finally:
            await sim.close()
            await run


def by_status(findings: list[Finding], status: str) -> list[str]:
    return [f"{f.area}: {f.message}" for f in findings if f.status == status]


async def test_all_good_against_the_simulator(tmp_path: Path, sqlite_url: str) -> None:
    await migrated(sqlite_url)
    async with busy_pbx() as sim:
        settings = settings_for(tmp_path, sim.port, sqlite_url)
        findings = await diagnose(settings, timeout_s=5, events_s=3)
    assert by_status(findings, "fail") == []
    text = render(findings, "doctor")
    assert "sesión iniciada como 'centralita'" in text
    assert "11 colas, 8 agentes" in text
    assert "llegan eventos de call, agent" in text
    assert "esquema al día" in text
    assert "todo en orden" in text


async def test_wrong_secret_is_said_plainly(tmp_path: Path, sqlite_url: str) -> None:
    await migrated(sqlite_url)
    async with Simulator(lab_config(calls=1), seed=1, speed=None, secret="other") as sim:
        findings = await diagnose(settings_for(tmp_path, sim.port, sqlite_url), timeout_s=5)
    (failure,) = by_status(findings, "fail")
    assert "login rechazado" in failure
    assert "Authentication failed" in failure
    assert "'centralita'" in failure
    assert SECRET not in render(findings, "doctor")  # never print the secret


async def test_closed_port_and_missing_database(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    url = f"sqlite+aiosqlite:///{tmp_path / 'missing.db'}"
    findings = await diagnose(settings_for(tmp_path, port, url), timeout_s=2)
    failures = by_status(findings, "fail")
    assert any(f"no se puede conectar a 127.0.0.1:{port}" in f for f in failures)
    assert any("missing.db no existe: ejecute `centralita db-migrate`" in f for f in failures)
    assert not (tmp_path / "missing.db").exists()  # doctor does not create it


async def test_empty_database_asks_for_migration(tmp_path: Path, sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    async with engine.begin() as conn:  # an existing, empty file
        await conn.exec_driver_sql("CREATE TABLE unrelated (x INTEGER)")
    await engine.dispose()
    findings = await diagnose(settings_for(tmp_path, free_port(), sqlite_url), timeout_s=2)
    assert any("no tiene el esquema" in f for f in by_status(findings, "fail"))


async def test_unreachable_postgres_and_broker(tmp_path: Path) -> None:
    closed = free_port()
    url = f"postgresql+asyncpg://centralita@127.0.0.1:{closed}/centralita"
    extra = f'[mqtt]\nhost = "127.0.0.1"\nport = {closed}\n'
    findings = await diagnose(settings_for(tmp_path, closed, url, extra), timeout_s=2)
    failures = by_status(findings, "fail")
    assert any("base de datos" in f and "no acepta conexiones" in f for f in failures)
    assert any(f"broker MQTT en 127.0.0.1:{closed}" in f for f in failures)


async def test_real_broker_is_ok(tmp_path: Path, mqtt_broker: tuple[str, int]) -> None:
    host, port = mqtt_broker
    extra = f'[mqtt]\nhost = "{host}"\nport = {port}\n'
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    findings = await diagnose(settings_for(tmp_path, free_port(), url, extra), timeout_s=5)
    assert any(f.area == "broker" and f.status == "ok" for f in findings)


async def test_cli_broken_routing_file_exits_non_zero(tmp_path: Path) -> None:
    routing = tmp_path / "routing.toml"
    routing.write_text('timezone = "America/La_Paz"\n[[service]]\nkey = 101\n', "utf-8")
    config = tmp_path / "centralita.toml"
    config.write_text(
        f'[ami]\nport = {free_port()}\n[routing]\npath = "{routing}"\n'
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "c.db"}"\n',
        "utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CENTRALITA_")}
    env["CENTRALITA_AMI_SECRET"] = SECRET
    returncode, text = await run_doctor("--config", str(config), "--timeout", "2", env=env)
    assert returncode == 1, text
    assert f"[FALLA] enrutamiento: {routing}" in text
    assert "[FALLA] AMI" in text
    assert "problema(s)" in text


async def test_cli_bad_settings_file(tmp_path: Path) -> None:
    config = tmp_path / "centralita.toml"
    config.write_text("[ami]\nprot = 5038\n", "utf-8")
    returncode, text = await run_doctor("--config", str(config))
    assert returncode == 1
    assert "[FALLA] ajustes" in text
    assert "prot" in text


async def run_doctor(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """``centralita doctor ARGS`` in a subprocess: its exit code and what it printed."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "centralita.cli",
        "doctor",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, _err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode("utf-8")
