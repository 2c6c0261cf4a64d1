"""Issue #13's acceptance test: a damage reported to 4639999 on a Saturday, end to end.

Everything is real except the PBX, which is the project's simulator (AMI over TCP, and
Asterisk's side of FastAGI against our IVR). Its clock starts on Saturday 2026-12-05 at
15:00 in La Paz and it runs as fast as possible (``speed=None``): the event stream depends
on the seed and on what the daemon answers, never on the wall clock. The chain, one arrow
asserted at a time:

1. the simulated caller dials 4639999 and keys "2" in the IVR's public-telephony menu;
   our FastAGI IVR reports the topic ``damage`` and sends the call to ``q4639999``;
2. the call waits in ``q4639999`` and the only agent of that queue answers it;
3. the daemon (built as ``centralita run`` builds it: listener, IVR, console, mail task)
   stores the call and pops it to that agent, with the IVR's topic and the customer found
   by the caller's number;
4. in the console (HTTP, signed in as that agent) the script's step 6 suggests the branch
   "después de medio día del Viernes hasta el Domingo" from the call's answer time; the
   walk through it (step 7, e-mail the manager) is recorded as an interaction;
5. the daemon's outbox task delivers the e-mail to an in-process SMTP server (aiosmtpd),
   to the address configured for ``encargado_telefonia_publica``, naming the caller, the
   customer, the contract and the call;
6. ``centralita report --month 2026-12 --format json`` counts the call in 4639999's
   measured line (received 1, answered 1, within the threshold) and in ``MEDIDOS``.

It runs on SQLite and on PostgreSQL (the ``db_url`` fixture); SQLite alone would be
enough for the chain, PostgreSQL is cheap here (one call). The IVR routes by the wall
clock (a real PBX's calls are "now"); 4639999's damage goes to ``q4639999`` every day, so
that does not change what is asserted.
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
import sqlalchemy as sa

from centralita.cli import main as cli_main
from centralita.console.schema import interactions
from centralita.console.users import User, hash_password, save_user
from centralita.daemon import Daemon, DaemonParts
from centralita.demo import free_port
from centralita.ivr.schema import customers
from centralita.mail.schema import outbox
from centralita.settings import parse_settings
from centralita.simulator.config import AgentConfig, Behaviour, PatienceClass, SimConfig, lab_config
from centralita.simulator.model import Engine
from centralita.simulator.runner import Simulator
from centralita.simulator.truth import TruthCall
from tests.integration.helpers import SECRET, fetch_rows, settle, until
from tests.mail.conftest import SmtpServer

LA_PAZ = ZoneInfo("America/La_Paz")
SATURDAY = datetime(2026, 12, 5, 15, 0, tzinfo=LA_PAZ)
SEED = 13
PASSWORD = "clave-segura-13"
AGENT = "agent6"  # the only member of q4639999 in this PBX
MANAGER = "nelson.lopez@example.com"
CONTRACT = "46399001"
CUSTOMER = "Cooperativa Plaza 14 de Septiembre"
NOTE = "Teléfono público de la plaza sin tono desde el mediodía"
WAIT_S = 30.0  # generous: only ever waited for, never asserted on
# Script 4639999: 1, 2 continue; 3 "falla técnica" (option 1) → 6; 6's branches are
# [0] Monday to Friday noon, [1] Friday noon to Sunday → 7 (e-mail); 7 → 8 → outcome.
TO_STEP_6 = [[1, 0], [2, 0], [3, 1]]
WEEKEND_BRANCH = 1


def saturday_pbx() -> SimConfig:
    """The lab PBX with one caller to 4639999 on Saturday afternoon, who keys "2"
    (damage) in the IVR menu and waits until answered; one agent serves q4639999."""
    base = lab_config(calls=1)
    return msgspec.structs.replace(
        base,
        start_epoch=SATURDAY.timestamp(),
        services=tuple(s for s in base.services if s.exten == "4639999"),
        agents=(
            AgentConfig(
                name="Agent 6", interface=f"Local/{AGENT}@lab-agents", queues=("q4639999",)
            ),
        ),
        behaviour=Behaviour(
            ivr_dtmf=("2",),
            no_answer_prob=0.0,
            pause_mean_interval_s=0.0,
            patience=(PatienceClass(name="patient", weight=1.0, min_s=250.0, max_s=280.0),),
        ),
    )


def first_caller(config: SimConfig) -> str:
    """The number the simulated caller will call from (the engine is deterministic by
    seed): the customer directory knows it before the call reaches the queue."""
    probe = Engine(config, SEED)
    while not probe.truth.calls:
        at = probe.next_time()
        assert at is not None
        probe.advance(at)
    return probe.truth.calls[0].caller_num


def write_users(path: Path) -> None:
    save_user(
        path,
        User(
            name="ana",
            role="agent",
            interface=f"Local/{AGENT}@lab-agents",
            password=hash_password(PASSWORD),
        ),
    )


def settings_text(tmp_path: Path, db_url: str, ports: dict[str, int]) -> str:
    """The daemon's centralita.toml: the simulator's AMI, our IVR on a free port, the
    console with a users file, and the e-mail steps' outbox on the test SMTP server."""
    (tmp_path / "ami.secret").write_text(SECRET + "\n", "utf-8")
    write_users(tmp_path / "users.toml")
    return f"""
pbx_id = "pbx-13"
[mqtt]
customer_wait_s = 10.0  # the card is asserted: no race with a loaded CI machine
[ami]
port = {ports["ami"]}
secret_file = "{tmp_path / "ami.secret"}"
ping_interval_s = 30.0
[database]
url = "{db_url}"
[ivr]
host = "127.0.0.1"
port = {ports["ivr"]}
[http]
port = {ports["http"]}
users_file = "{tmp_path / "users.toml"}"
[mail]
host = "127.0.0.1"
port = {ports["smtp"]}
starttls = false
from_address = "centro.llamadas@example.com"
poll_interval_s = 0.05
recipients = {{ encargado_telefonia_publica = "{MANAGER}" }}
"""


@contextlib.asynccontextmanager
async def running(daemon: Daemon) -> AsyncIterator[DaemonParts]:
    """Run the built daemon; logged in to the PBX and its IVR listening on entry."""
    parts = daemon.parts
    assert parts is not None
    runner = asyncio.create_task(daemon.run())
    try:
        await asyncio.wait_for(daemon.ready.wait(), WAIT_S)
        await until(lambda: parts.listener.pipeline.stats.resyncs >= 1, what="AMI login")
        await listening(daemon.settings.ivr.port)
        yield parts
    finally:
        daemon.stop()
        await asyncio.wait_for(runner, WAIT_S)


async def listening(port: int) -> None:
    """Wait until the IVR's FastAGI port accepts connections."""
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            assert time.monotonic() < deadline, "the IVR did not start listening"
            await asyncio.sleep(0.02)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return


async def signed_in(base: str) -> httpx.AsyncClient:
    """The agent's console session (cookie), with the header every POST needs."""
    http = httpx.AsyncClient(base_url=base, headers={"X-Centralita": "1"})
    reply = await http.post("/ingresar", data={"usuario": "ana", "clave": PASSWORD})
    assert reply.status_code == 303, reply.text
    return http


async def pop_of(http: httpx.AsyncClient, call_id: str) -> dict[str, Any]:
    """The call's pop among the agent's own (GET /api/pops), once published."""
    deadline = time.monotonic() + WAIT_S
    while True:
        reply = await http.get("/api/pops")
        assert reply.status_code == 200, reply.text
        found = [p for p in reply.json() if p["call_id"] == call_id]
        if found:
            return dict(found[-1])
        assert time.monotonic() < deadline, f"no pop for {call_id}"
        await asyncio.sleep(0.05)


async def step(http: httpx.AsyncClient, trail: list[list[int]], at: str) -> dict[str, Any]:
    reply = await http.post("/api/paso", json={"script_id": "4639999", "trail": trail, "at": at})
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


async def sim_call(sim: Simulator) -> TruthCall:
    """Run the simulated PBX until its one call is over; that call's ground truth."""
    truth = await sim.run()
    [call] = truth.calls
    return call


async def test_4639999_saturday_damage_pop_suggestion_mail_and_indicator(
    db_url: str, tmp_path: Path
) -> None:
    config = saturday_pbx()
    caller = first_caller(config)
    smtp = SmtpServer(free_port())
    smtp.start()
    ports = {"ivr": free_port(), "http": free_port(), "smtp": smtp.port}
    try:
        async with Simulator(
            config,
            seed=SEED,
            speed=None,
            secret=SECRET,
            agi_address=("127.0.0.1", ports["ivr"]),
        ) as sim:
            ports["ami"] = sim.port
            text = settings_text(tmp_path, db_url, ports)
            daemon = Daemon(parse_settings(text, "centralita.toml", env={}))
            parts = await daemon.build()
            async with parts.engine.begin() as conn:  # the directory knows the caller
                await conn.execute(
                    customers.insert().values(
                        contract=CONTRACT,
                        phone=caller,
                        ci="",
                        name=CUSTOMER,
                        segment="empresa",
                        services="Telefonía pública",
                        address="Plaza 14 de Septiembre, Cochabamba",
                        notes="",
                    )
                )
            async with running(daemon) as parts:
                # 1-2. The PBX: IVR menu "2", queue q4639999, answered by the agent.
                call = await sim_call(sim)
                await settle(parts.listener)
                base = f"http://127.0.0.1:{ports['http']}"
                http = await signed_in(base)
                try:
                    # 3. The pop, to the agent who answered, with the IVR's topic.
                    pop = await pop_of(http, call.uniqueid)
                    # 4. The console suggests the weekend branch; the walk is recorded.
                    at_6 = await step(http, TO_STEP_6, pop["answered_at"])
                    at_7 = await step(http, [*TO_STEP_6, [6, WEEKEND_BRANCH]], pop["answered_at"])
                    trail = [*TO_STEP_6, [6, WEEKEND_BRANCH], [7, 0], [8, 0]]
                    done = await step(http, trail, pop["answered_at"])
                    recorded = await http.post(
                        "/api/interacciones",
                        json={"call_id": call.uniqueid, "trail": trail, "note": NOTE},
                    )
                    assert recorded.status_code == 201, recorded.text
                finally:
                    await http.aclose()
                # 5. The daemon's outbox task hands the e-mail to the SMTP server.
                await until(
                    lambda: len(smtp.recorder.received) >= 1, what="the e-mail", timeout_s=WAIT_S
                )
                # The server has the message a moment before the outbox row says so.
                loop = asyncio.get_running_loop()
                deadline = loop.time() + WAIT_S
                while True:
                    async with parts.engine.connect() as conn:
                        states = (await conn.execute(sa.select(outbox.c.state))).scalars()
                        mail_states = list(states.all())
                    if mail_states != ["pending"] or loop.time() > deadline:
                        break
                    await asyncio.sleep(0.05)
                rows = await fetch_rows(parts.engine, "pbx-13")
                async with parts.engine.connect() as conn:
                    stored = (await conn.execute(sa.select(interactions))).mappings().all()
    finally:
        smtp.stop()
    # 6. The monthly indicator, as the regulator's export computes it.
    out = tmp_path / "report.json"
    argv = ["report", "--month", "2026-12", "--db", db_url, "--format", "json", "--out", str(out)]
    assert await asyncio.to_thread(cli_main, argv) == 0
    lines = {line["service"]: line for line in json.loads(out.read_text("utf-8"))["lines"]}

    # 1. The simulated caller keyed "2" and our IVR reported the topic and the queue.
    assert call.caller_num == caller
    assert call.service == "4639999"
    ivr = call.ivr or {}
    assert (ivr.get("topic"), ivr.get("queue"), ivr.get("result")) == ("damage", "q4639999", "ok")
    # 2. Answered in q4639999 by the agent, on Saturday afternoon in La Paz.
    assert call.outcome == "answered"
    assert [e.queue for e in call.entries] == ["q4639999"]
    assert call.agent_interface == f"Local/{AGENT}@lab-agents"
    assert call.answered_at is not None
    answered = datetime.fromtimestamp(call.answered_at, LA_PAZ)
    assert (answered.date().isoformat(), answered.strftime("%a")) == ("2026-12-05", "Sat")
    assert 15 <= answered.hour < 17
    # 3. Stored once, as the truth says; popped to that agent with the IVR's topic.
    assert [(r.uniqueid, r.outcome, r.service) for r in rows] == [
        (call.uniqueid, "answered", "4639999")
    ]
    assert (pop["agent"], pop["service"], pop["queue"]) == (AGENT, "4639999", "q4639999")
    assert (pop["caller_num"], pop["script_id"]) == (caller, "4639999")
    assert pop["ivr"]["fields"]["topic"] == "damage"
    assert (pop["customer"]["contract"], pop["customer"]["name"]) == (CONTRACT, CUSTOMER)
    assert abs(datetime.fromisoformat(pop["answered_at"]).timestamp() - call.answered_at) < 0.002
    # 4. Step 6 suggests the weekend branch, which leads to step 7 (e-mail the manager).
    assert at_6["step"]["number"] == 6
    assert at_6["suggested"] == WEEKEND_BRANCH
    assert "después de medio día del Viernes" in at_6["options"][WEEKEND_BRANCH]["label"]
    assert at_7["step"]["number"] == 7
    assert [h["to"] for h in at_7["step"]["handoffs"]] == ["encargado_telefonia_publica"]
    assert done["outcome"]["code"] == "dano_derivado_encargado"
    assert len(stored) == 1
    row = stored[0]
    assert (row["call_uniqueid"], row["agent"], row["service"]) == (call.uniqueid, AGENT, "4639999")
    assert row["outcome_code"] == "dano_derivado_encargado"
    assert msgspec.json.decode(row["trail"]) == trail
    # 5. One e-mail, to the configured manager, naming the caller, customer and contract.
    assert mail_states == ["sent"]
    [mail] = smtp.recorder.received
    assert mail.rcpt_tos == [MANAGER]
    assert mail.message["To"] == MANAGER
    assert mail.message["Subject"] == (
        f"Daño de telefonía pública (fin de semana): {caller}, contrato {CONTRACT}"
    )
    body = mail.message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    for expected in (
        f"Cliente: {CUSTOMER}",
        f"Contrato: {CONTRACT}",
        f"Teléfono del que llamó: {caller}",
        "Servicio: 4639999 (Telefonía Pública)",
        NOTE,
        f"Identificador de la llamada: {call.uniqueid}",
    ):
        assert expected in text, expected
    # 6. The call is 4639999's, measured, answered within the threshold, in MEDIDOS.
    line = lines["4639999"]
    assert line["measured"] is True
    assert (line["received"], line["answered"], line["answered_within"]) == (1, 1, 1)
    assert line["sl_percent"] == 100.0
    measured = lines["MEDIDOS"]
    assert (measured["received"], measured["answered"], measured["answered_within"]) == (1, 1, 1)
    assert (lines["TOTAL"]["received"], lines["TOTAL"]["answered"]) == (1, 1)
