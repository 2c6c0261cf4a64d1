"""`centralita campaign run`: the dialer hosted alone against an AMI address."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ami_listener.service import AmiSettings
from ami_listener.store import create_schema as create_ingest_schema
from ami_listener.store import make_engine
from campaigns.dialer import DialerSettings
from campaigns.exceptions import CampaignConfigError, CampaignNotFoundError
from campaigns.importer import import_customer_list
from campaigns.runner import check_database, run_campaign
from campaigns.store import load_state
from campaigns.window import LA_PAZ, CallingHours, month_of
from simulator.runner import Simulator
from tests.campaigns.conftest import customer_list, lp, write
from tests.campaigns.simharness import SECRET, sim_clock, sim_config
from tests.campaigns.test_commands import run

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
        settings = DialerSettings(hours=CallingHours(), poll_s=0.05)
        code = await asyncio.wait_for(
            run_campaign(db, ami, MONTH, settings, lambda: sim_clock(sim), pbx_id="sim"), 60
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
        await create_ingest_schema(engine)
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
    assert run(*args) == 1
    assert "centralita db-migrate" in capsys.readouterr().err


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
