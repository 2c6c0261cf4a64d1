"""`centralita campaign run`: the dialer hosted alone against an AMI address."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.service import AmiSettings
from centralita.ami_listener.store import make_engine
from centralita.campaigns import runner
from centralita.campaigns.dialer import DialerSettings
from centralita.campaigns.exceptions import CampaignConfigError, CampaignNotFoundError
from centralita.campaigns.importer import import_customer_list
from centralita.campaigns.runner import check_database, run_campaign
from centralita.campaigns.store import load_state
from centralita.campaigns.window import LA_PAZ, month_of
from centralita.db import migrate
from centralita.simulator.runner import Simulator
from tests.campaigns.conftest import customer_list, hours_of, lp, routing_text, write
from tests.campaigns.simharness import SECRET, sim_clock, sim_config
from tests.campaigns.test_commands import run
from tests.campaigns.test_routing_hours import AFTERNOONS, without_campaign

MONTH = "2025-03"


async def test_runs_a_small_campaign_to_the_end_and_exits(db: AsyncEngine, tmp_path: Path) -> None:
    await import_customer_list(
        db, write(tmp_path / "l.csv", customer_list(8)), month=None, now_ms=0
    )
    # The simulator on a scaled clock: 200 virtual seconds per second.
    config = sim_config(lp(2025, 2, 25, 9, 0), talk_s=(20.0, 40.0), answer_prob=1.0)
    async with Simulator(config, seed=1, speed=200.0, secret=SECRET) as sim:
        running = asyncio.create_task(sim.run())
        ami = AmiSettings(host="127.0.0.1", port=sim.port, secret=SECRET, backoff_initial_s=0.05)
        settings = DialerSettings(poll_s=0.05)
        code = await asyncio.wait_for(
            run_campaign(
                db, ami, MONTH, settings, lambda: sim_clock(sim), pbx_id="sim", hours=hours_of()
            ),
            60,
        )
        running.cancel()
    assert code == 0
    state = await load_state(db, MONTH)
    assert all(
        [a.outcome for a in state.attempts[c.contract]] == ["answered"] for c in state.customers
    )
    assert all(a.agent for t in state.attempts.values() for a in t)
    assert sorted(o.action_id for o in sim.truth.originates) == sorted(
        f"cc-campana-{MONTH}-{a.attempt_id}" for t in state.attempts.values() for a in t
    )


async def test_stops_when_asked(db: AsyncEngine, tmp_path: Path) -> None:
    await import_customer_list(
        db, write(tmp_path / "l.csv", customer_list(4)), month=None, now_ms=0
    )
    config = sim_config(lp(2025, 2, 25, 20, 0))  # after hours: the dialer waits
    async with Simulator(config, seed=1, speed=None, secret=SECRET) as sim:
        stop = asyncio.Event()
        ami = AmiSettings(host="127.0.0.1", port=sim.port, secret=SECRET, backoff_initial_s=0.05)
        task = asyncio.create_task(
            run_campaign(db, ami, MONTH, DialerSettings(), lambda: sim_clock(sim), stop=stop)
        )
        await sim.wait_for_client()
        stop.set()
        assert await asyncio.wait_for(task, 30) == 0
    assert sim.truth.originates == []


async def test_refuses_a_database_without_event_log_or_campaign(
    sqlite_url: str, tmp_path: Path
) -> None:
    engine = make_engine(sqlite_url)
    try:
        with pytest.raises(CampaignConfigError, match="centralita db-migrate"):
            await check_database(engine, MONTH)
        await migrate(engine)
        with pytest.raises(CampaignNotFoundError):
            await check_database(engine, MONTH)
    finally:
        await engine.dispose()


def test_command_needs_the_secret_and_a_valid_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    args = ("campaign", "run", "--month", MONTH, "--ami-host", "127.0.0.1", "--db", db)
    monkeypatch.delenv("CENTRALITA_AMI_SECRET", raising=False)
    assert run(*args) == 2
    assert "CENTRALITA_AMI_SECRET" in capsys.readouterr().err
    monkeypatch.setenv("CENTRALITA_AMI_SECRET", "s")
    bad = write(tmp_path / "c.toml", "[retry]\nmax_attempts = 0\n")
    assert run(*args, "--config", str(bad)) == 1
    assert "$.retry: max_attempts" in capsys.readouterr().err
    routing = write(tmp_path / "routing.toml", "[[service]]\nkey = 1\n")
    assert run(*args, "--routing", str(routing)) == 2
    assert capsys.readouterr().err == (
        f"centralita: --routing: {routing}: enrutamiento inválido en service[0].key: "
        "se esperaba texto, llegó un número\n"
    )
    bare = write(tmp_path / "bare.toml", without_campaign())
    assert run(*args, "--routing", str(bare)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"centralita: --routing: {bare}: el servicio «prepago» no tiene")
    assert err.count("\n") == 1
    old = write(tmp_path / "old.toml", '[hours]\nmon = { from = "08:30", until = "19:00" }\n')
    assert run(*args, "--config", str(old)) == 1
    assert capsys.readouterr().err.startswith(
        f"centralita: {old}: [hours] ya no se configura aquí: el horario de llamadas"
    )
    # The command migrates the fresh database first: what is missing is the campaign.
    assert run(*args) == 1
    assert f"no hay campaña para {MONTH}" in capsys.readouterr().err


def test_command_calls_in_the_hours_of_its_routing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--routing`'s `[service.campaign] windows` and holidays are the dialer's hours."""
    seen: list[Any] = []

    async def fake_run(*args: Any, **kw: Any) -> int:
        seen.append(kw["hours"])
        return 0

    monkeypatch.setattr(runner, "run_campaign", fake_run)
    monkeypatch.setenv("CENTRALITA_AMI_SECRET", "s")
    db = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    args = ("campaign", "run", "--month", MONTH, "--ami-host", "127.0.0.1", "--db", db)
    routing = write(tmp_path / "routing.toml", routing_text(AFTERNOONS, {"2025-03-05": "Feriado"}))
    assert run(*args, "--routing", str(routing)) == 0
    assert run(*args) == 0  # without --routing: the shipped routing.toml
    given, shipped = seen
    assert given.allows(lp(2025, 3, 4, 15, 0)) and not given.allows(lp(2025, 3, 4, 10, 0))
    assert not given.allows(lp(2025, 3, 5, 15, 0))  # its holiday
    assert shipped.allows(lp(2025, 3, 4, 10, 0)) and not shipped.allows(lp(2025, 3, 4, 19, 0))


async def test_the_process_stops_cleanly_on_sigterm(db: AsyncEngine, tmp_path: Path) -> None:
    # A month whose window is open today, so the dialer keeps running until signalled.
    today = datetime.now(LA_PAZ).date()
    month = month_of(today if today.day < 25 else today + timedelta(days=10))
    await import_customer_list(
        db, write(tmp_path / "l.csv", customer_list(2, month=month)), month=None, now_ms=0
    )
    url = str(db.url)
    async with Simulator(sim_config(datetime.now(LA_PAZ)), seed=1, secret=SECRET) as sim:
        env = {**os.environ, "CENTRALITA_AMI_SECRET": SECRET}
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "centralita.cli", "campaign", "run", "--month", month),
            *("--ami-host", "127.0.0.1", "--ami-port", str(sim.port), "--db", url),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            await sim.wait_for_client(timeout_s=30)
            proc.send_signal(signal.SIGTERM)
            out, _ = await asyncio.wait_for(proc.communicate(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    text = out.decode()
    assert proc.returncode == 0, text
    assert "campaign_run_started" in text and "campaign_run_stopped" in text
