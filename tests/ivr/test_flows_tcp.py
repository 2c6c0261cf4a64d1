"""IVR flows end to end: the real server on port 0, the shipped routing.toml, and a fake
Asterisk over TCP. Every call ends with a routing destination on the channel and one
CentralitaIvr UserEvent, or (caller gone) a clean close."""

from __future__ import annotations

import asyncio
import datetime as dt

from structlog.testing import capture_logs

from centralita.ivr.events import USER_EVENT_NAME
from centralita.ivr.routing_adapter import RoutingRouter
from tests.ivr.conftest import StartServer, priority
from tests.ivr.fake_asterisk import FakeAsterisk
from tests.ivr.fakes import DownDirectory, HangingDirectory, RecordingRouter

FRIDAY_EVENING = dt.datetime(2026, 12, 5, 0, 0, tzinfo=dt.UTC)  # Fri 4 Dec 20:00 in La Paz


def assert_no_hangup_command(commands: list[str]) -> None:
    assert not any(c.split(" ", 1)[0] == "HANGUP" for c in commands), commands


async def test_full_101_flow(start_server: StartServer, router: RoutingRouter) -> None:
    recording = RecordingRouter(router)
    server = await start_server(router_=recording)
    with capture_logs() as logs:
        call = FakeAsterisk(server.port, service="101", digits=["1", "71234567"])
        transcript = await call.run()

    assert transcript.closed_by_server
    assert transcript.variables == {
        "CC_SERVICE": "101",
        "CC_QUEUE": "q101",
        "CC_PRIORITY": priority(router, "101", "corporativo"),
        "CC_MAXWAIT": "60",
        "CC_DEST_KIND": "queue",
        "CC_DEST_NUMBER": "",
        "CC_ANNOUNCEMENT": "",
        "CC_RULE": "",
        "CC_CUSTOMER": "200999",
    }
    assert transcript.event == {
        "UserEvent": USER_EVENT_NAME,
        "service": "101",
        "queue": "q101",
        "priority": priority(router, "101", "corporativo"),
        "destination": "queue",
        "topic": "",
        "customer": "200999",
        "segment": "corporativo",
        "input": "phone",
        "result": "ok",
        "ivr_uniqueid": "1795925652.0",
    }
    assert transcript.prompts == [
        "cc-saludo-101",
        "cc-menu-identificacion",
        "cc-pida-telefono",
        "cc-transferencia-operador",
    ]
    assert recording.calls == [("101", None, None), ("101", "corporativo", None)]
    # the safe queue is on the channel before the caller hears anything
    first_prompt = next(i for i, c in enumerate(transcript.commands) if "cc-saludo" in c)
    first_queue = next(i for i, c in enumerate(transcript.commands) if "CC_QUEUE" in c)
    assert first_queue < first_prompt
    assert transcript.commands[0].startswith("SET VARIABLE")
    assert transcript.commands[-1].startswith('EXEC UserEvent "CentralitaIvr,')
    assert_no_hangup_command(transcript.commands)
    # logs: one canonical line, never the caller's full number
    routed = [e for e in logs if e["event"] == "ivr_call_routed"]
    assert len(routed) == 1
    assert routed[0]["caller"] == "*****567"
    assert "71234567" not in repr(logs)


async def test_identify_by_ci_and_by_contract(start_server: StartServer) -> None:
    server = await start_server()
    by_ci = await FakeAsterisk(server.port, service="102", digits=["3", "3456789"]).run()
    by_contract = await FakeAsterisk(server.port, service="103", digits=["2", "100234"]).run()
    assert (by_ci.event["customer"], by_ci.event["input"]) == ("100234", "ci")
    assert by_ci.variables["CC_QUEUE"] == "q102"
    assert (by_contract.event["customer"], by_contract.event["input"]) == ("100234", "contract")
    assert by_contract.variables["CC_QUEUE"] == "q103"


async def test_service_specific_identifiers(start_server: StartServer) -> None:
    server = await start_server()
    # Boliviatel offers phone (1) and CI (2) only: "2" means CI there
    transcript = await FakeAsterisk(server.port, service="800131313", digits=["2", "5551234"]).run()
    assert transcript.event["input"] == "ci"
    assert transcript.event["customer"] == "200999"


async def test_invalid_input_after_retries_goes_to_the_queue(
    start_server: StartServer, router: RoutingRouter
) -> None:
    server = await start_server()
    digits: list[str | None] = ["9", None, "1", "12", "999", None]
    transcript = await FakeAsterisk(server.port, digits=digits).run()
    assert transcript.event["result"] == "invalid_input"
    assert transcript.event["input"] == "none"
    assert transcript.variables["CC_QUEUE"] == "q101"
    assert transcript.variables["CC_PRIORITY"] == priority(router, "101", None)
    assert transcript.variables["CC_CUSTOMER"] == ""
    # menu: 9 (bad), timeout, then 1; number: 12, 999, timeout -> three failures
    assert transcript.prompts.count("cc-pida-telefono") == 3
    assert transcript.prompts[-2:] == ["cc-pida-telefono", "cc-dato-no-validado"]


async def test_menu_never_answered_goes_to_the_queue(start_server: StartServer) -> None:
    server = await start_server()
    transcript = await FakeAsterisk(server.port, digits=[]).run()
    assert transcript.event["result"] == "invalid_input"
    assert transcript.prompts.count("cc-menu-identificacion") == 3
    assert transcript.queue == "q101"


async def test_customer_not_found(start_server: StartServer) -> None:
    server = await start_server()
    transcript = await FakeAsterisk(server.port, digits=["1", "4999999"]).run()
    assert transcript.event["result"] == "not_found"
    assert transcript.event["input"] == "phone"
    assert transcript.event["customer"] == ""
    assert transcript.queue == "q101"
    assert "cc-cliente-no-encontrado" in transcript.prompts


async def test_directory_down(start_server: StartServer, router: RoutingRouter) -> None:
    server = await start_server(directory_=DownDirectory())
    transcript = await FakeAsterisk(server.port, digits=["1", "71234567"]).run()
    assert transcript.event["result"] == "directory_down"
    assert transcript.queue == "q101"
    assert transcript.variables["CC_PRIORITY"] == priority(router, "101", None)
    assert "cc-transferencia-directa" in transcript.prompts


async def test_directory_too_slow_counts_as_down(start_server: StartServer) -> None:
    server = await start_server(directory_=HangingDirectory())
    transcript = await FakeAsterisk(server.port, digits=["1", "71234567"]).run()
    assert transcript.event["result"] == "directory_down"
    assert transcript.queue == "q101"


async def test_routing_error_uses_the_fallback_queue(start_server: StartServer) -> None:
    server = await start_server(router_=RecordingRouter(broken=True))
    transcript = await FakeAsterisk(server.port, service="800131313", digits=["1"]).run()
    assert transcript.event["result"] == "error"
    assert transcript.variables == {
        "CC_SERVICE": "800131313",
        "CC_QUEUE": "q800131313",
        "CC_PRIORITY": "0",
        "CC_DEST_KIND": "queue",
        "CC_CUSTOMER": "",
    }
    assert transcript.prompts == []  # no dialog on a broken routing: straight to the queue


async def test_unknown_number_uses_the_global_default(start_server: StartServer) -> None:
    server = await start_server()
    transcript = await FakeAsterisk(server.port, service="5550000").run()
    assert transcript.event["result"] == "error"
    assert transcript.queue == "q101"


async def test_service_without_ivr_flow_only_applies_routing(start_server: StartServer) -> None:
    server = await start_server()
    transcript = await FakeAsterisk(server.port, service="104").run()
    assert transcript.event["result"] == "ok"
    assert transcript.event["input"] == "none"
    assert transcript.queue == "q104"
    assert transcript.prompts == []
    assert all(c.startswith(("SET VARIABLE", "EXEC UserEvent")) for c in transcript.commands)


async def test_out_of_hours_announcement_keeps_a_queue_name(start_server: StartServer) -> None:
    server = await start_server(at=FRIDAY_EVENING)
    transcript = await FakeAsterisk(server.port, service="4251000").run()
    assert transcript.variables["CC_DEST_KIND"] == "announcement"
    assert transcript.variables["CC_RULE"] == "central-fuera-de-horario"
    assert transcript.queue == "q4251000"
    assert transcript.event["destination"] == "announcement"


async def test_public_telephony_topic_menu(start_server: StartServer) -> None:
    weekday = await start_server()
    billing = await FakeAsterisk(weekday.port, service="4639999", digits=["1"]).run()
    assert billing.event["topic"] == "billing"
    assert billing.variables["CC_DEST_KIND"] == "queue"
    assert billing.prompts == [
        "cc-saludo-4639999",
        "cc-menu-telefonia-publica",
        "cc-transferencia-operador",
    ]
    friday = await start_server(at=FRIDAY_EVENING)
    damage = await FakeAsterisk(friday.port, service="4639999", digits=["2"]).run()
    assert damage.event["topic"] == "damage"
    assert damage.event["destination"] == "number"
    assert damage.variables["CC_DEST_NUMBER"] == "2150"
    assert damage.variables["CC_RULE"] == "danos-viernes-tarde-a-domingo"
    assert damage.queue == "q4639999"
    assert damage.prompts == ["cc-saludo-4639999", "cc-menu-telefonia-publica"]
    nothing = await FakeAsterisk(friday.port, service="4639999", digits=[]).run()
    assert nothing.event["result"] == "invalid_input"
    assert nothing.variables["CC_DEST_KIND"] == "queue"


async def test_hangup_mid_flow_closes_cleanly(start_server: StartServer) -> None:
    server = await start_server()
    # commands: 9 x SET VARIABLE, ANSWER, STREAM FILE greeting, GET DATA menu (12th)
    call = FakeAsterisk(server.port, digits=["1"], hangup_at=12)
    transcript = await call.run()
    assert transcript.closed_by_server
    assert transcript.commands[11].startswith("GET DATA")
    assert len(transcript.commands) == 12  # nothing sent after the hangup
    assert transcript.user_events == []
    assert transcript.queue == "q101"  # set before; harmless for a dead channel
    assert_no_hangup_command(transcript.commands)
    await server.wait_idle(5)


async def test_300_concurrent_sessions(start_server: StartServer) -> None:
    server = await start_server()

    def call(n: int) -> FakeAsterisk:
        scripts: list[list[str | None]] = [
            ["1", "71234567"],
            ["3", "3456789"],
            ["1", "4999999"],
            ["7", "8", "9"],
        ]
        digits = scripts[n % 4]
        return FakeAsterisk(server.port, digits=digits, uniqueid=f"1795925652.{n}")

    async with asyncio.timeout(60):
        transcripts = await asyncio.gather(*(call(n).run() for n in range(300)))
    results = [t.event["result"] for t in transcripts]
    assert results.count("ok") == 150
    assert results.count("not_found") == 75
    assert results.count("invalid_input") == 75
    assert {t.event["ivr_uniqueid"] for t in transcripts} == {f"1795925652.{n}" for n in range(300)}
    assert all(t.queue == "q101" and t.closed_by_server for t in transcripts)
    await server.wait_idle(5)
