"""After-call work with call controls (issue #12, item 1): the agent is paused at the
call's end (QueuePause, «Cierre de llamada») until the call is recorded or the service's
limit passes; an agent paused for their own reason is left alone; an AMI fault never
stops the console. Virtual time: the limit's sleep is an event the test sets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.store import create_schema, make_engine
from centralita.ami_listener.tracker import MemberUpdated
from centralita.console.aftercall import AFTER_CALL_REASON, AfterCallPause
from centralita.console.controls import CallControls
from centralita.console.schema import metadata as console_metadata
from tests.console.ami_calls import Call
from tests.console.helpers import PASSWORD, console
from tests.console.test_controls import HEADERS, Recorder

AGENT = "Local/agent1@lab-agents"


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(db_url)
    await create_schema(eng)
    async with eng.begin() as conn:
        await conn.run_sync(console_metadata.create_all)
    yield eng
    await eng.dispose()


class Gate:
    """A sleep that returns when the test opens it (the limit "passes")."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.waiting = asyncio.Event()

    async def sleep(self, _seconds: float) -> None:
        self.waiting.set()
        await self.opened.wait()


def setup(limit_s: int = 120) -> tuple[AfterCallPause, Recorder, Gate]:
    recorder = Recorder()
    controls = CallControls(enabled=True, pause_reasons=("Almuerzo",), sender=recorder)
    gate = Gate()
    return AfterCallPause(controls, lambda _queue: limit_s, sleep=gate.sleep), recorder, gate


def pauses(recorder: Recorder) -> list[tuple[str, str]]:
    return [(f["Paused"], f.get("Reason", "")) for f in recorder.sent]


async def test_paused_at_the_end_and_resumed_when_recorded() -> None:
    after, recorder, _gate = setup()
    assert await after.ended(AGENT, "q101", "c1")
    assert recorder.sent[0] == {
        "Action": "QueuePause",
        "Interface": AGENT,
        "Paused": "true",
        "Reason": AFTER_CALL_REASON,
    }
    assert not await after.recorded(AGENT, "another call")  # not this pause's call
    assert await after.recorded(AGENT, "c1")
    assert pauses(recorder) == [("true", AFTER_CALL_REASON), ("false", "")]
    assert not await after.recorded(AGENT, "c1")  # a second click: nothing more


async def test_resumed_when_the_limit_passes() -> None:
    after, recorder, gate = setup()
    await after.ended(AGENT, "q101", "c1")
    await gate.waiting.wait()
    gate.opened.set()
    for _ in range(100):
        if len(recorder.sent) == 2:
            break
        await asyncio.sleep(0)
    assert pauses(recorder) == [("true", AFTER_CALL_REASON), ("false", "")]
    assert not await after.recorded(AGENT, "c1")  # already resumed by the limit


async def test_an_agents_own_pause_and_a_service_without_limit_are_left_alone() -> None:
    after, recorder, _gate = setup()
    after.controls.handle(
        MemberUpdated(
            queue="q101",
            interface=AGENT,
            name="Ana",
            status=1,
            paused=True,
            in_call=False,
            pause_reason="Almuerzo",
        )
    )
    assert not await after.ended(AGENT, "q101", "c1")
    assert recorder.sent == []
    no_limit, recorder2, _ = setup(limit_s=0)
    assert not await no_limit.ended(AGENT, "q104", "c2")
    assert recorder2.sent == []


async def test_the_ami_down_never_stops_the_console() -> None:
    after, recorder, _gate = setup()
    recorder.down = True
    assert not await after.ended(AGENT, "q101", "c1")  # logged, not raised
    recorder.down = False
    recorder.answer = {"Response": "Error", "Message": "Interface not found"}
    assert not await after.ended(AGENT, "q101", "c1")
    await after.close()


async def test_off_without_call_controls() -> None:
    recorder = Recorder()
    after = AfterCallPause(CallControls(enabled=False, sender=recorder), lambda _q: 60)
    assert not after.active
    assert not await after.ended(AGENT, "q101", "c1")
    assert recorder.sent == []


async def test_through_the_console_paused_at_the_end_resumed_on_recording(
    engine: AsyncEngine,
) -> None:
    # The daemon's path: the call's end reaches the work items on the bus, the agent is
    # paused; recording the work item resumes them. SQLite and PostgreSQL.
    recorder = Recorder()
    controls = CallControls(enabled=True, pause_reasons=("Almuerzo",), sender=recorder)
    call = Call("1795990000.1", "101", "70123456", agent=1)
    async with console(engine, wrapup_s=600, controls=controls) as c:
        await c.answer(call)
        c.play(call.end())
        for _ in range(200):
            if recorder.sent:
                break
            await asyncio.sleep(0.01)
        assert pauses(recorder) == [("true", AFTER_CALL_REASON)]
        transport = httpx.ASGITransport(app=c.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console") as ana:
            signed = await ana.post("/ingresar", data={"usuario": "ana", "clave": PASSWORD})
            assert signed.status_code == 303
            body = {"generic": "colgo", "note": ""}
            r = await ana.post(
                f"/api/trabajos/{call.uniqueid}/registrar", json=body, headers=HEADERS
            )
            assert r.status_code == 201, r.text
    assert pauses(recorder) == [("true", AFTER_CALL_REASON), ("false", "")]
