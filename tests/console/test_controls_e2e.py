"""Issue #12's call controls end to end: the daemon (as ``centralita run`` builds it, with
``[console] call_controls = true``) against the simulated PBX over AMI, the agent's clicks
in headless Chromium.

1. A caller of 102 is answered by beto (agent2, q102 only). In beto's console he picks
   "Reclamos Técnicos (101)" and clicks "Transferir a la cola": the daemon Redirects the
   caller's channel to ``[centralita-transfer] q101``; the simulated PBX re-queues the same
   channel in q101, where luis (agent1, q101 only) answers: luis gets the pop, with 101's
   service and script.
2. beto chooses "Almuerzo" and clicks "Pausar": QueuePause with that Reason; the
   supervisor's wallboard (/api/muro) shows beto paused, with the reason.
3. After the call ends: ``centralita report`` counts ONE call, under 102 (its first
   service), none under 101.

SQLite and PostgreSQL (the ``db_url`` fixture). The PBX runs only when the test moves it
(``speed=None``): what happens depends on the seed and the daemon's answers, never on the
wall clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import msgspec
import pytest

from centralita.cli import main as cli_main
from centralita.console.users import User, hash_password, save_user
from centralita.daemon import Daemon, DaemonParts
from centralita.demo import free_port
from centralita.settings import parse_settings
from centralita.simulator.config import AgentConfig, Behaviour, PatienceClass, SimConfig, lab_config
from centralita.simulator.runner import Simulator
from tests.console.conftest import launch_chromium, sign_in
from tests.integration.helpers import SECRET, fetch_rows, settle, until

pytestmark = [pytest.mark.browser]

LA_PAZ = ZoneInfo("America/La_Paz")
MONDAY = datetime(2026, 12, 7, 10, 0, tzinfo=LA_PAZ)
SEED = 12
PASSWORD = "clave-segura-12"
BETO, LUIS = "Local/agent2@lab-agents", "Local/agent1@lab-agents"
WAIT_S = 30.0  # generous: only ever waited for, never asserted on
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


def pbx() -> SimConfig:
    """One patient caller to 102 on a Monday morning; beto serves q102, luis q101."""
    base = lab_config(calls=1)
    return msgspec.structs.replace(
        base,
        start_epoch=MONDAY.timestamp(),
        services=tuple(s for s in base.services if s.exten == "102"),
        agents=(
            AgentConfig(name="Beto", interface=BETO, queues=("q102",)),
            AgentConfig(name="Luis", interface=LUIS, queues=("q101",)),
        ),
        behaviour=Behaviour(
            no_answer_prob=0.0,
            pause_mean_interval_s=0.0,
            talk_min_s=200.0,
            talk_max_s=220.0,
            patience=(PatienceClass(name="patient", weight=1.0, min_s=900.0, max_s=950.0),),
        ),
    )


def settings_text(tmp_path: Path, db_url: str, ami_port: int, http_port: int) -> str:
    (tmp_path / "ami.secret").write_text(SECRET + "\n", "utf-8")
    users = tmp_path / "users.toml"
    secret = hash_password(PASSWORD)
    for user in (
        User(name="beto", role="agent", interface=BETO, password=secret),
        User(name="luis", role="agent", interface=LUIS, password=secret),
        User(name="sofia", role="supervisor", password=secret),
    ):
        save_user(users, user)
    return f"""
pbx_id = "pbx-12"
[ami]
port = {ami_port}
secret_file = "{tmp_path / "ami.secret"}"
ping_interval_s = 30.0
[database]
url = "{db_url}"
[ivr]
enabled = false
[http]
port = {http_port}
users_file = "{users}"
[console]
call_controls = true
"""


@contextlib.asynccontextmanager
async def running(daemon: Daemon) -> AsyncIterator[DaemonParts]:
    parts = daemon.parts
    assert parts is not None
    runner = asyncio.create_task(daemon.run())
    try:
        await asyncio.wait_for(daemon.ready.wait(), WAIT_S)
        await until(lambda: parts.listener.pipeline.stats.resyncs >= 1, what="AMI login")
        yield parts
    finally:
        daemon.stop()
        await asyncio.wait_for(runner, WAIT_S)


@contextlib.asynccontextmanager
async def signed_in(base: str, name: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base, headers={"X-Centralita": "1"}) as http:
        reply = await http.post("/ingresar", data={"usuario": name, "clave": PASSWORD})
        assert reply.status_code == 303, reply.text
        yield http


async def pop_of(http: httpx.AsyncClient, call_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while True:
        found = [p for p in (await http.get("/api/pops")).json() if p["call_id"] == call_id]
        if found:
            return dict(found[-1])
        assert time.monotonic() < deadline, f"no pop for {call_id}"
        await asyncio.sleep(0.05)


def talking_to(sim: Simulator, interface: str) -> str:
    """The uniqueid of the call the agent is talking on ("" when none)."""
    agent = sim.engine.agents.get(interface)
    call = agent.talking if agent is not None else None
    return call.chan.uniqueid if call is not None else ""


async def test_transfer_102_to_101_and_pause_with_a_reason(
    db_url: str, tmp_path: Path, chromium: str
) -> None:
    from playwright.async_api import async_playwright

    http_port = free_port()
    async with Simulator(pbx(), seed=SEED, speed=None, secret=SECRET) as sim:
        daemon = Daemon(
            parse_settings(settings_text(tmp_path, db_url, sim.port, http_port), "c.toml", env={})
        )
        await daemon.build()
        base = f"http://127.0.0.1:{http_port}"
        async with running(daemon) as parts, async_playwright() as pw:
            # The caller of 102 is answered by beto.
            assert await sim.advance_until(lambda: bool(talking_to(sim, BETO)))
            uid = talking_to(sim, BETO)
            await settle(parts.listener)
            browser = await launch_chromium(pw, chromium)
            try:
                page = await sign_in(browser, base, "beto", PASSWORD, "/consola", 1366, 768)
                await page.wait_for_selector(f"#ctl-call:has-text('{pbx_caller(sim)}')")
                options = await page.eval_on_selector_all(
                    "#ctl-service option", "os => os.map(o => o.value)"
                )
                assert "101" in options and "102" not in options  # not to its own queue
                await page.select_option("#ctl-service", "101")
                await page.click("#ctl-transfer")
                await page.wait_for_selector("#ctl-status:has-text('transferida a la cola q101')")
                # The PBX re-queues the same channel in q101, where luis answers.
                assert await sim.advance_until(lambda: talking_to(sim, LUIS) == uid)
                await settle(parts.listener)
                # beto's part is over, and his console says so while luis still talks
                await page.wait_for_selector("#call-state:has-text('Terminada')")
                async with signed_in(base, "luis") as luis:
                    pop = await pop_of(luis, uid)
                    luis_item = await item_of(luis, uid)
                async with signed_in(base, "beto") as beto:
                    beto_item = await item_of(beto, uid)
                assert beto_item["call_ended_at_ms"] is not None
                assert luis_item["call_ended_at_ms"] is None
                async with signed_in(base, "beto") as beto:  # the call is luis's now
                    again = await beto.post(
                        "/api/controles/transferir", json={"call_id": uid, "service": "101"}
                    )
                assert again.status_code == 404, again.text
                holder = parts.extra["publisher"].bus.pop_for_call(uid)
                assert holder is not None and holder.agent == "agent1"
                # beto pauses for lunch, in the console.
                await page.select_option("#ctl-reason", "Almuerzo")
                await page.click("#ctl-pause")
                await page.wait_for_selector("#ctl-state:has-text('En pausa: Almuerzo')")
                await settle(parts.listener)
                async with signed_in(base, "sofia") as sofia:
                    board = (await sofia.get("/api/muro")).json()
                ARTIFACTS.mkdir(exist_ok=True)
                await page.screenshot(path=str(ARTIFACTS / "console-controls.png"), full_page=True)
            finally:
                await browser.close()
            truth = await sim.run()  # the call ends (luis hangs up after the talk)
            await settle(parts.listener)
            rows = await fetch_rows(parts.engine, "pbx-12")
    out = tmp_path / "report.json"
    argv = ["report", "--month", "2026-12", "--db", db_url, "--format", "json", "--out", str(out)]
    assert await asyncio.to_thread(cli_main, argv) == 0
    lines = {line["service"]: line for line in json.loads(out.read_text("utf-8"))["lines"]}

    # 1. One call, two stays (q102 answered by beto, then q101 answered by luis).
    [call] = truth.calls
    assert call.uniqueid == uid
    assert [(e.queue, e.agent_interface) for e in call.entries] == [("q102", BETO), ("q101", LUIS)]
    assert [(r.uniqueid, r.service) for r in rows] == [(uid, "102")]
    # luis's pop: the same call, 101's queue, service and script, the caller's channel.
    assert (pop["agent"], pop["queue"], pop["service"], pop["script_id"]) == (
        "agent1",
        "q101",
        "101",
        "101",
    )
    assert pop["channel"] == call.channel
    # 2. The wallboard: beto paused in q102, for lunch.
    q102 = next(q for q in board["queues"] if q["queue"] == "q102")
    assert [(a["interface"], a["state"]) for a in q102["agents"]] == [(BETO, "paused")]
    agents = {a["interface"]: a for a in board["agents"]}
    assert (agents[BETO]["state"], agents[BETO]["pause_reason"]) == ("paused", "Almuerzo")
    assert agents[LUIS]["state"] != "paused"
    # 3. The indicator: one call, under its first service (102); 101 received none.
    assert lines["102"]["received"] == 1
    assert lines["101"]["received"] == 0
    assert lines["TOTAL"]["received"] == 1
    # the PBX saw exactly one pause, with the reason, in beto's queue
    assert any(line.endswith("|q102|Beto|PAUSE|Almuerzo") for line in sim.engine.queue_log), (
        sim.engine.queue_log
    )


async def item_of(client: httpx.AsyncClient, call_id: str) -> dict[str, Any]:
    """The signed-in agent's work item of a call (/api/trabajos)."""
    listing = (await client.get("/api/trabajos")).json()
    items = listing["items"] if isinstance(listing, dict) else listing
    return next(i for i in items if i["call_id"] == call_id)


def pbx_caller(sim: Simulator) -> str:
    """The number of the (only) caller, as the console shows it."""
    return sim.engine.truth.calls[0].caller_num
