"""`centralita run` killed with SIGKILL mid-run (the process group: reader, writer process
and forkserver together, as the OOM killer or a power cut would), the PBX busy for a
minute without it, then started again: with healing from queue_log every call of the
simulator's truth is stored once with the right outcome and a wait within 1 s, and
``centralita rebuild`` on a copy gives the same records."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import msgspec
import pytest
import sqlalchemy as sa

from centralita.ami_listener.schema import calls
from centralita.ami_listener.store import make_engine
from centralita.simulator.config import lab_config
from centralita.simulator.runner import Simulator
from tests.brokers import free_port
from tests.integration.helpers import SECRET, until
from tests.integration.test_outage_suite import (
    PBX,
    busy_mid_run,
    check_against_truth,
    copy_of,
    stored,
)

pytestmark = pytest.mark.timeout(240)


def write_config(tmp_path: Path, db_url: str, ami_port: int, queue_log: Path) -> Path:
    secret = tmp_path / "ami.secret"
    secret.write_text(SECRET + "\n")
    config = tmp_path / "centralita.toml"
    config.write_text(
        f'pbx_id = "{PBX}"\n'
        f'[ami]\nport = {ami_port}\nsecret_file = "{secret}"\n'
        f'[database]\nurl = "{db_url}"\n'
        "[ivr]\nenabled = false\n"
        f"[http]\nport = {free_port()}\n"
        f'[queue_log]\npath = "{queue_log}"\ninterval_s = 1.0\nsettle_s = 0.0\n'
    )
    return config


async def start_daemon(config: Path, log: Path) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CENTRALITA_")}
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "centralita.cli",
            "run",
            "--config",
            str(config),
            stdout=out,
            stderr=out,
            env=env,
            start_new_session=True,  # its own process group: the kill takes every child
        )


async def logged_in(sim: Simulator, before: int) -> None:
    await until(
        lambda: sum(1 for c in sim.server.clients if c.logged_in) > before,
        what="the daemon's AMI login",
    )


async def settled_calls(url: str) -> int:
    """Stored calls with nothing left for healing to correct (-1 while unreadable)."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(
                sa.select(sa.func.count())
                .select_from(calls)
                .where(sa.or_(calls.c.marks == "", calls.c.marks == "healed"))
            )
            return int(result.scalar_one())
    except sa.exc.SQLAlchemyError:
        return -1
    finally:
        await engine.dispose()


async def test_sigkill_of_the_whole_daemon_with_the_pbx_busy(db_url: str, tmp_path: Path) -> None:
    queue_log = tmp_path / "queue_log"
    log = tmp_path / "daemon.log"
    # The PBX clock a few hours behind the wall clock (as a live day is): the daemon's
    # healer looks at the last day of calls, and heals calls that ended settle_s ago.
    config_ = msgspec.structs.replace(
        lab_config(calls=200, load=1.5), start_epoch=float(int(time.time()) - 3 * 3600)
    )
    async with Simulator(
        config_,
        seed=404,
        speed=None,
        secret=SECRET,
        queue_log_path=queue_log,
    ) as sim:
        config = write_config(tmp_path, db_url, sim.port, queue_log)
        first = await start_daemon(config, log)
        await logged_in(sim, 0)
        await sim.advance_until(busy_mid_run(sim))
        # SIGKILL: no clean-up of any kind, whatever was in flight is lost.
        os.killpg(first.pid, signal.SIGKILL)
        await first.wait()
        await until(lambda: not any(c.logged_in for c in sim.server.clients), what="drop")
        killed_at = sim.engine.now
        await sim.advance(60.0)  # the PBX goes on for a minute without the daemon
        joined = [c for c in sim.truth.queue_calls() if (c.entered_at or 0) > killed_at]
        assert joined, "nothing happened on the PBX while the daemon was dead"
        second = await start_daemon(config, log)
        await logged_in(sim, 0)
        await sim.advance_until(lambda: False)
        truth = sim.truth
        wanted = len(truth.queue_calls())
        # Healing passes every second: wait until every call is there and healed.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 120
        while await settled_calls(db_url) < wanted and loop.time() < deadline:
            await asyncio.sleep(0.2)
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), 60) == 0, log.read_text()[-3000:]
    engine = make_engine(db_url)
    try:
        rows, _ = await stored(engine)
        problems, missing = check_against_truth(truth, rows, healed=True)
        assert problems == []
        assert missing == set()
        async with copy_of(db_url, engine, tmp_path) as copy:
            from centralita.ami_listener.ingest import rebuild
            from centralita.healing import heal_after_rebuild
            from tests.integration.test_outage_suite import _default_service

            await rebuild(copy, PBX)
            await heal_after_rebuild(copy, [PBX], _default_service)
            again = await stored(copy)
        live = await stored(engine)
        diff = {
            uid: {k: (v, live[0][uid][k]) for k, v in row.items() if live[0][uid][k] != v}
            for uid, row in again[0].items()
            if uid in live[0] and row != live[0][uid]
        }
        assert diff == {}
        assert set(again[0]) == set(live[0])
        assert again[1] == live[1]
    finally:
        await engine.dispose()
