"""The console's call controls over HTTP (console/controls.py), with a recording AMI
sender: which action each control sends, with which fields, and what is refused (the
switch off, a reason not in the list, another agent's call or pause, an unknown service
or interno). The employee search reads the directory on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.exceptions import AmiConnectionError
from centralita.ami_listener.pipeline import Pipeline
from centralita.ami_listener.protocol import AmiMessage
from centralita.ami_listener.store import make_engine
from centralita.ami_listener.tracker import CallTracker, MemberUpdated
from centralita.console.app import create_app
from centralita.console.controls import CallControls, TransferTarget
from centralita.console.employees import employees, search_key
from centralita.console.employees import metadata as employees_metadata
from centralita.console.live import LiveState
from centralita.console.schema import metadata as console_metadata
from centralita.routing import default_routing_path, load_routing
from centralita.screenpop.publisher import ScreenPopPublisher
from centralita.screenpop.resolvers import service_resolver
from tests.console.ami_calls import Call, messages
from tests.console.helpers import PASSWORD, USERS

ANA_CALL = Call("1795940000.1", "102", "70111222", agent=1)  # ana = agent1
BETO_CALL = Call("1795940000.2", "104", "70333444", agent=2)  # beto = agent2
HEADERS = {"X-Centralita": "1"}
REASONS = ("Almuerzo", "Baño", "Capacitación", "Gestión de caso")


class Recorder:
    """An AMI client that records the actions and answers as told."""

    def __init__(self) -> None:
        self.sent: list[dict[str, str]] = []
        self.answer: dict[str, str] = {"Response": "Success", "Message": "ok"}
        self.down = False

    async def send(self, fields: dict[str, str], timeout_s: float = 10.0) -> AmiMessage:
        if self.down:
            raise AmiConnectionError("AMI not connected")
        self.sent.append(dict(fields))
        return AmiMessage(dict(self.answer))


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(db_url)
    async with eng.begin() as conn:
        await conn.run_sync(console_metadata.create_all)
        await conn.run_sync(employees_metadata.create_all)
        for line, (name, area, position, ext) in enumerate(
            [
                ("María José Gómez Rojas", "Gerencia Técnica", "Jefa de Planta Externa", "2150"),
                ("Juan Pérez Ñuflo", "Gerencia Comercial", "Ejecutivo de ventas", "2301"),
                ("Mesa de partes", "Secretaría General", "", None),
            ],
            start=2,
        ):
            await conn.execute(
                employees.insert().values(
                    name=name,
                    area=area,
                    position=position,
                    extension=ext,
                    phone=None if ext else "4250001",
                    email="",
                    search_key=search_key(name, area, position),
                    source_line=line,
                )
            )
    yield eng
    await eng.dispose()


@contextlib.asynccontextmanager
async def app_with(
    engine: AsyncEngine, controls: CallControls
) -> AsyncIterator[tuple[httpx.ASGITransport, ScreenPopPublisher]]:
    routing = load_routing(default_routing_path())
    publisher = ScreenPopPublisher("lab", None, 1883, services=service_resolver(routing))
    live = LiveState(
        "lab", measured=["101"], service_names={s.key: s.name for s in routing.services}
    )
    pipeline = Pipeline(CallTracker("lab"), sinks=[publisher, live, controls], log_events=False)
    app = create_app("lab", engine, publisher, live, USERS, controls=controls)
    task = asyncio.create_task(publisher.run())
    try:
        for call in (ANA_CALL, BETO_CALL):
            for msg in messages(call.ivr_frame() + call.join() + call.connect()):
                pipeline.feed(msg, None)
        for _ in range(200):
            if all(publisher.bus.pop_for_call(c.uniqueid) for c in (ANA_CALL, BETO_CALL)):
                break
            await asyncio.sleep(0.01)
        yield httpx.ASGITransport(app=app), publisher
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def signed_in(transport: httpx.ASGITransport, name: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
        r = await client.post("/ingresar", data={"usuario": name, "clave": PASSWORD})
        assert r.status_code == 303, r.text
        yield client


def controls_on(sender: Recorder) -> CallControls:
    return CallControls(
        enabled=True,
        pause_reasons=REASONS,
        sender=sender,
        transfer_context="centralita-transfer",
        outbound_context="from-internal",
        targets=lambda: [
            TransferTarget("101", "Reclamos Técnicos", "q101"),
            TransferTarget("102", "Facturación", "q102"),
        ],
    )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_pause_and_resume_send_queuepause_with_the_reason(engine: AsyncEngine) -> None:
    ami = Recorder()
    async with app_with(engine, controls_on(ami)) as (transport, _pub):
        async with signed_in(transport, "ana") as ana:
            overview = (await ana.get("/api/controles")).json()
            assert overview["enabled"] is True
            assert overview["pause_reasons"] == list(REASONS)
            assert [s["key"] for s in overview["services"]] == ["101", "102"]
            no_header = await ana.post("/api/controles/pausa", json={"reason": "Almuerzo"})
            assert no_header.status_code == 403
            bad = await ana.post("/api/controles/pausa", json={"reason": "Siesta"}, headers=HEADERS)
            assert bad.status_code == 422
            assert "motivo de pausa desconocido: «Siesta»" in bad.json()["error"]
            r = await ana.post("/api/controles/pausa", json={"reason": "Baño"}, headers=HEADERS)
            assert r.status_code == 200, r.text
            assert r.json() == {"agent": "agent1", "paused": True, "reason": "Baño"}
            other = await ana.post(
                "/api/controles/pausa", json={"reason": "Baño", "agent": "agent2"}, headers=HEADERS
            )
            assert other.status_code == 403
            assert (await ana.post("/api/controles/reanudar", json={}, headers=HEADERS)).is_success
        async with signed_in(transport, "sofia") as sofia:  # a supervisor, for an agent
            r = await sofia.post(
                "/api/controles/pausa",
                json={"reason": "Capacitación", "agent": "agent2"},
                headers=HEADERS,
            )
            assert r.status_code == 200, r.text
            unknown = await sofia.post(
                "/api/controles/pausa", json={"reason": "Baño", "agent": "agent9"}, headers=HEADERS
            )
            assert unknown.status_code == 404
    assert ami.sent == [
        {
            "Action": "QueuePause",
            "Interface": "Local/agent1@lab-agents",
            "Paused": "true",
            "Reason": "Baño",
        },
        {"Action": "QueuePause", "Interface": "Local/agent1@lab-agents", "Paused": "false"},
        {
            "Action": "QueuePause",
            "Interface": "Local/agent2@lab-agents",
            "Paused": "true",
            "Reason": "Capacitación",
        },
    ]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_pause_state_follows_the_member_events(engine: AsyncEngine) -> None:
    controls = controls_on(Recorder())
    async with app_with(engine, controls) as (transport, _pub):
        for queue, paused in (("q101", True), ("q102", True)):
            controls.handle(
                MemberUpdated(queue, "Local/agent1@lab-agents", "Agent 1", 1, paused, False, "Baño")
            )
        async with signed_in(transport, "ana") as ana:
            assert (await ana.get("/api/controles")).json()["pause"] == {
                "paused": True,
                "reason": "Baño",
            }
            for queue in ("q101", "q102"):
                controls.handle(
                    MemberUpdated(queue, "Local/agent1@lab-agents", "Agent 1", 1, False, False)
                )
            assert (await ana.get("/api/controles")).json()["pause"]["paused"] is False


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_transfer_redirects_the_callers_channel(engine: AsyncEngine) -> None:
    ami = Recorder()
    async with app_with(engine, controls_on(ami)) as (transport, pub):
        pop = pub.bus.pop_for_call(ANA_CALL.uniqueid)
        assert pop is not None
        async with signed_in(transport, "ana") as ana:
            body = {"call_id": ANA_CALL.uniqueid, "service": "101"}
            r = await ana.post("/api/controles/transferir", json=body, headers=HEADERS)
            assert r.status_code == 200, r.text
            assert r.json() == {"call_id": ANA_CALL.uniqueid, "service": "101", "queue": "q101"}
            same = await ana.post(
                "/api/controles/transferir",
                json={"call_id": ANA_CALL.uniqueid, "service": "102"},
                headers=HEADERS,
            )
            assert same.status_code == 422  # it is in q102 already
            unknown = await ana.post(
                "/api/controles/transferir",
                json={"call_id": ANA_CALL.uniqueid, "service": "999"},
                headers=HEADERS,
            )
            assert unknown.status_code == 422
            theirs = await ana.post(
                "/api/controles/transferir",
                json={"call_id": BETO_CALL.uniqueid, "service": "101"},
                headers=HEADERS,
            )
            assert theirs.status_code == 404
            ami.answer = {"Response": "Error", "Message": "Channel does not exist: x"}
            gone = await ana.post("/api/controles/transferir", json=body, headers=HEADERS)
            assert gone.status_code == 409
            assert gone.json()["error"] == (
                "la central rechazó la transferencia: Channel does not exist: x"
            )
            ami.down = True
            down = await ana.post("/api/controles/transferir", json=body, headers=HEADERS)
            assert down.status_code == 503
            assert "sin conexión con la central" in down.json()["error"]
    channel = f"Local/{ANA_CALL.uniqueid}@lab-callers-00000002;1"
    redirect = {
        "Action": "Redirect",
        "Channel": channel,
        "Context": "centralita-transfer",
        "Exten": "q101",
        "Priority": "1",
    }
    assert ami.sent == [redirect, redirect]  # the refused one too; not the offline one


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
async def test_employee_search_and_transfer_to_the_interno(engine: AsyncEngine) -> None:
    ami = Recorder()
    async with (
        app_with(engine, controls_on(ami)) as (transport, _pub),
        signed_in(transport, "ana") as ana,
    ):
        found = (await ana.get("/api/controles/empleados", params={"q": "gomez tecnica"})).json()
        assert found == [
            {
                "name": "María José Gómez Rojas",
                "area": "Gerencia Técnica",
                "position": "Jefa de Planta Externa",
                "extension": "2150",
            }
        ]
        by_number = (await ana.get("/api/controles/empleados", params={"q": "2301"})).json()
        assert [e["name"] for e in by_number] == ["Juan Pérez Ñuflo"]
        no_ext = (await ana.get("/api/controles/empleados", params={"q": "partes"})).json()
        assert no_ext[0]["extension"] == ""
        body = {"call_id": ANA_CALL.uniqueid, "interno": "2150"}
        r = await ana.post("/api/controles/interno", json=body, headers=HEADERS)
        assert r.status_code == 200, r.text
        assert r.json()["name"] == "María José Gómez Rojas"
        for interno, what in (("9999", "no está en el directorio"), ("21a", "inválido")):
            bad = await ana.post(
                "/api/controles/interno",
                json={"call_id": ANA_CALL.uniqueid, "interno": interno},
                headers=HEADERS,
            )
            assert bad.status_code == 422
            assert what in bad.json()["error"]
    assert ami.sent == [
        {
            "Action": "Redirect",
            "Channel": f"Local/{ANA_CALL.uniqueid}@lab-callers-00000002;1",
            "Context": "from-internal",
            "Exten": "2150",
            "Priority": "1",
        }
    ]
    async with engine.connect() as conn:  # nothing was written by a search
        assert (await conn.scalar(sa.select(sa.func.count()).select_from(employees))) == 3


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_everything_is_refused_while_the_switch_is_off(engine: AsyncEngine) -> None:
    ami = Recorder()
    off = CallControls(enabled=False, pause_reasons=REASONS, sender=ami)
    async with app_with(engine, off) as (transport, _pub), signed_in(transport, "ana") as ana:
        assert (await ana.get("/api/controles")).json()["enabled"] is False
        for url, body in (
            ("/api/controles/pausa", {"reason": "Almuerzo"}),
            ("/api/controles/reanudar", {}),
            ("/api/controles/transferir", {"call_id": ANA_CALL.uniqueid, "service": "101"}),
            ("/api/controles/interno", {"call_id": ANA_CALL.uniqueid, "interno": "2150"}),
        ):
            r = await ana.post(url, json=body, headers=HEADERS)
            assert r.status_code == 403, url
            assert r.json()["error"].startswith("los controles de llamada están desactivados")
    assert ami.sent == []


def test_doctor_expects_call_and_agent_write_only_with_the_switch() -> None:
    from centralita.doctor import needed_write_classes
    from centralita.settings import parse_settings

    assert needed_write_classes(parse_settings("")) == {"reporting"}
    on = parse_settings("[console]\ncall_controls = true\n")
    assert needed_write_classes(on) == {"reporting", "call", "agent"}
    assert on.console.pause_reasons == REASONS


def test_a_transferred_calls_latest_pop_is_the_agent_who_has_it() -> None:
    """beto (agent2) answered first, luis (agent1) after the transfer: the call is luis's,
    whatever order the agents' lists are in; each agent still finds its own pop."""
    from centralita.screenpop.bus import Delivery, LocalBus

    def pop(agent: str, at: str, script: str = "") -> Delivery:
        body = msgspec.json.encode({"call_id": "c1", "agent": agent, "created_at": at, "s": script})
        return Delivery("screenpop", f"t/{agent}", body, agent=agent, call_id="c1")

    bus = LocalBus()
    bus.deliver(pop("agent1", "2026-12-07T14:00:01.000+00:00", "other call"))  # luis's list first
    bus.deliver(Delivery("screenpop", "t", b'{"created_at": ""}', agent="agent1", call_id="c0"))
    bus.deliver(pop("agent2", "2026-12-07T14:00:05.000+00:00"))
    bus.deliver(pop("agent1", "2026-12-07T14:01:30.000+00:00"))
    latest = bus.pop_for_call("c1")
    assert latest is not None and latest.agent == "agent1"
    assert msgspec.json.decode(latest.body)["created_at"].startswith("2026-12-07T14:01:30")
    first = bus.pop_for_call("c1", agent="agent2")
    assert first is not None and first.agent == "agent2"
    assert bus.pop_for_call("c1", agent="agent9") is None
    # the same call popped again to the same agent (the campaign's pop, same created_at):
    # the later delivery wins
    bus.deliver(pop("agent1", "2026-12-07T14:01:30.000+00:00", "campaign"))
    again = bus.pop_for_call("c1")
    assert again is not None and msgspec.json.decode(again.body)["s"] == "campaign"
