"""A prompt the PBX lacks is never fatal: the call is still identified and queued, the
digits are read with WAIT FOR DIGIT, the file is logged once and counted for /metrics."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from centralita.http import ivr_prompt_metrics
from centralita.ivr import prompt_health
from centralita.ivr.prompt_health import MissingPrompts
from centralita.simulator.agi import run_session
from centralita.simulator.model import AgiRequest
from tests.ivr.conftest import StartServer
from tests.ivr.fake_asterisk import FakeAsterisk, headers


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> MissingPrompts:
    """A fresh process registry: what the sessions record and /metrics reads."""
    fresh = MissingPrompts()
    monkeypatch.setattr(prompt_health, "MISSING_PROMPTS", fresh)
    return fresh


def test_each_file_is_logged_once_and_counted_every_time() -> None:
    missing = MissingPrompts()
    with capture_logs() as logs:
        for name in ["cc-saludo-101", "cc-pida-telefono", "cc-saludo-101", "cc-saludo-101"]:
            missing.record(name)
    assert missing.counts() == {"cc-saludo-101": 3, "cc-pida-telefono": 1}
    warned = [e["file"] for e in logs if e["event"] == "ivr_prompt_missing"]
    assert warned == ["cc-saludo-101", "cc-pida-telefono"]


async def test_simulated_pbx_without_prompts_still_identifies_and_queues(
    start_server: StartServer, registry: MissingPrompts
) -> None:
    server = await start_server()
    lacking = {"cc-saludo-101", "cc-menu-identificacion", "cc-pida-telefono"}
    events: list[tuple[str, list[tuple[str, str]]]] = []
    request = AgiRequest("1795925652.0", headers("101"), "1,71234567")
    with capture_logs() as logs:
        for _call in range(2):
            result = await run_session(
                "127.0.0.1",
                server.port,
                request,
                lambda name, fields: events.append((name, fields)),
                missing_prompts=lacking,
            )
            assert result.status == "SUCCESS"
            assert result.queue == "q101"
    assert len(events) == 2
    for name, fields in events:
        assert name == "CentralitaIvr"
        event = dict(fields)
        # the digits keyed without the prompts reached the directory: customer found
        assert event["customer"] == "200999"
        assert event["input"] == "phone"
        assert event["result"] == "ok"
    assert registry.counts() == dict.fromkeys(lacking, 2)
    warned = sorted(e["file"] for e in logs if e["event"] == "ivr_prompt_missing")
    assert warned == sorted(lacking)  # once per file, not once per call
    metrics = ivr_prompt_metrics("lab")
    assert "# TYPE centralita_ivr_prompt_missing_total counter" in metrics
    assert 'centralita_ivr_prompt_missing_total{pbx="lab",file="cc-pida-telefono"} 2' in metrics
    assert not any("cc-pida-contrato" in line for line in metrics)


async def test_digits_are_read_with_the_same_timeout(
    start_server: StartServer, registry: MissingPrompts
) -> None:
    server = await start_server()
    call = FakeAsterisk(
        server.port,
        digits=["3", "3456789"],
        missing=frozenset({"cc-saludo-101", "cc-pida-carnet"}),
    )
    transcript = await call.run()
    assert transcript.event["result"] == "ok"
    assert transcript.event["customer"] == "100234"
    assert transcript.variables["CC_CUSTOMER"] == "100234"
    assert transcript.prompts == [
        "cc-menu-identificacion",
        "cc-transferencia-operador",
    ]
    commands = transcript.commands
    greeting = next(i for i, c in enumerate(commands) if "cc-saludo-101" in c)
    assert commands[greeting + 1] == "WAIT FOR DIGIT 0"  # alive? then the file is missing
    ask = next(i for i, c in enumerate(commands) if "cc-pida-carnet" in c)
    assert commands[ask] == 'GET DATA "cc-pida-carnet" 5000 12'
    # seven keys, then the timeout that ends the input, as GET DATA would
    assert commands[ask + 1 : ask + 9] == ["WAIT FOR DIGIT 5000"] * 8
    assert registry.counts() == {"cc-saludo-101": 1, "cc-pida-carnet": 1}


async def test_nothing_keyed_without_the_prompt_still_queues(
    start_server: StartServer, registry: MissingPrompts
) -> None:
    server = await start_server()
    call = FakeAsterisk(server.port, digits=[], missing=frozenset({"cc-menu-identificacion"}))
    transcript = await call.run()
    assert transcript.event["result"] == "invalid_input"
    assert transcript.queue == "q101"
    waits = [c for c in transcript.commands if c.startswith("WAIT FOR DIGIT")]
    assert waits == ["WAIT FOR DIGIT 5000"] * 3  # one per attempt
    assert registry.counts() == {"cc-menu-identificacion": 3}


async def test_a_hangup_during_a_prompt_is_not_a_missing_file(
    start_server: StartServer, registry: MissingPrompts
) -> None:
    server = await start_server()
    # commands: 9 x SET VARIABLE, ANSWER, STREAM FILE greeting (11th): -1, then HANGUP
    call = FakeAsterisk(server.port, digits=["1"], hangup_at=11, hangup_reply_first=True)
    transcript = await call.run()
    assert transcript.commands[10].startswith('STREAM FILE "cc-saludo-101"')
    assert transcript.commands[11:] == ["WAIT FOR DIGIT 0"]  # the probe; then nothing
    assert transcript.user_events == []
    assert registry.counts() == {}
    await server.wait_idle(5)
