"""IVR flows end to end: the real server on port 0 and a fake Asterisk over TCP."""

from __future__ import annotations

import asyncio

from ivr.events import USER_EVENT_NAME
from tests.ivr.conftest import StartServer
from tests.ivr.fake_asterisk import FakeAsterisk
from tests.ivr.fakes import DownDirectory, FakeRouter, HangingDirectory


def assert_no_hangup_command(commands: list[str]) -> None:
    assert not any(c.split(" ", 1)[0] == "HANGUP" for c in commands), commands


async def test_full_101_flow_identifies_a_vip_by_phone(start_server: StartServer) -> None:
    router = FakeRouter()
    server = await start_server(router=router)
    call = FakeAsterisk(server.port, service="101", digits=["1", "71234567"])
    transcript = await call.run()

    assert transcript.closed_by_server
    assert transcript.variables == {
        "CC_SERVICE": "101",
        "CC_QUEUE": "q101",
        "CC_PRIORITY": "10",
        "CC_CUSTOMER": "200999",
    }
    assert transcript.event == {
        "UserEvent": USER_EVENT_NAME,
        "service": "101",
        "queue": "q101",
        "priority": "10",
        "customer": "200999",
        "segment": "vip",
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
    assert router.calls == [("101", None), ("101", "vip")]
    # the safe queue is on the channel before the caller hears anything
    first_prompt = next(i for i, c in enumerate(transcript.commands) if "cc-saludo" in c)
    first_queue = next(i for i, c in enumerate(transcript.commands) if "CC_QUEUE" in c)
    assert first_queue < first_prompt
    assert transcript.commands[-1].startswith('EXEC UserEvent "CentralitaIvr,')
    assert_no_hangup_command(transcript.commands)


async def test_identify_by_ci_and_by_contract(start_server: StartServer) -> None:
    server = await start_server()
    by_ci = await FakeAsterisk(server.port, service="102", digits=["3", "3456789"]).run()
    by_contract = await FakeAsterisk(server.port, service="103", digits=["2", "100234"]).run()
    assert by_ci.event["customer"] == "100234"
    assert by_ci.event["input"] == "ci"
    assert by_ci.variables["CC_PRIORITY"] == "1"
    assert by_contract.event["customer"] == "100234"
    assert by_contract.event["input"] == "contract"
    assert by_contract.variables["CC_QUEUE"] == "q103"


async def test_invalid_input_after_retries_goes_to_the_queue(start_server: StartServer) -> None:
    server = await start_server()
    digits: list[str | None] = ["9", None, "1", "12", "999", None]
    transcript = await FakeAsterisk(server.port, digits=digits).run()
    assert transcript.event["result"] == "invalid_input"
    assert transcript.event["input"] == "none"
    assert transcript.variables["CC_QUEUE"] == "q101"
    assert transcript.variables["CC_CUSTOMER"] == ""
    # menu: 9 (bad), timeout, then 1; number: 12, 999, timeout -> three failures
    assert transcript.prompts.count("cc-pida-telefono") == 3
    assert transcript.prompts[-1] == "cc-dato-invalido"


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


async def test_directory_down(start_server: StartServer) -> None:
    server = await start_server(directory_=DownDirectory())
    transcript = await FakeAsterisk(server.port, digits=["1", "71234567"]).run()
    assert transcript.event["result"] == "directory_down"
    assert transcript.queue == "q101"
    assert transcript.variables["CC_PRIORITY"] == "0"
    assert "cc-transferencia-directa" in transcript.prompts


async def test_directory_too_slow_counts_as_down(start_server: StartServer) -> None:
    server = await start_server(directory_=HangingDirectory())
    transcript = await FakeAsterisk(server.port, digits=["1", "71234567"]).run()
    assert transcript.event["result"] == "directory_down"
    assert transcript.queue == "q101"


async def test_routing_error_uses_the_fallback_queue(start_server: StartServer) -> None:
    server = await start_server(router=FakeRouter(broken=True))
    transcript = await FakeAsterisk(server.port, service="800131313", digits=["1"]).run()
    assert transcript.event["result"] == "error"
    assert transcript.variables["CC_QUEUE"] == "q800131313"
    assert transcript.variables["CC_SERVICE"] == "800131313"


async def test_routing_error_for_an_unknown_service_uses_the_global_default(
    start_server: StartServer,
) -> None:
    server = await start_server(router=FakeRouter(broken=True))
    transcript = await FakeAsterisk(server.port, service="5550000").run()
    assert transcript.event["result"] == "error"
    assert transcript.queue == "q101"


async def test_service_without_identification(start_server: StartServer) -> None:
    server = await start_server()
    transcript = await FakeAsterisk(server.port, service="104").run()
    assert transcript.event["result"] == "ok"
    assert transcript.event["input"] == "none"
    assert transcript.prompts == ["cc-saludo-104"]
    assert not any(c.startswith("GET DATA") for c in transcript.commands)


async def test_hangup_mid_flow_closes_cleanly(start_server: StartServer) -> None:
    server = await start_server()
    # commands: 4 x SET VARIABLE, ANSWER, STREAM FILE greeting, GET DATA menu (7th)
    call = FakeAsterisk(server.port, digits=["1"], hangup_at=7)
    transcript = await call.run()
    assert transcript.closed_by_server
    assert transcript.commands[6].startswith("GET DATA")
    assert len(transcript.commands) == 7  # nothing sent after the hangup
    assert transcript.user_events == []
    assert transcript.queue == "q101"  # set before; harmless for a dead channel
    assert_no_hangup_command(transcript.commands)
    await server.wait_idle(5)


async def test_300_concurrent_sessions(start_server: StartServer) -> None:
    server = await start_server()

    def call(n: int) -> FakeAsterisk:
        kind = n % 4
        digits: list[str | None]
        if kind == 0:
            digits = ["1", "71234567"]
        elif kind == 1:
            digits = ["3", "3456789"]
        elif kind == 2:
            digits = ["1", "4999999"]
        else:
            digits = ["7", "8", "9"]
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
