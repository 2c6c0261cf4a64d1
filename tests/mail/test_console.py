"""The console: recording a walk through an e-mail step queues one message, the agent
sees it pending while the SMTP server is down and sent once it is back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.mail.outbox import Outbox
from centralita.mail.sender import MailSender
from tests.console.ami_calls import Call
from tests.console.helpers import Console, console, signed_in
from tests.mail.conftest import FakeClock, SmtpServer, smtp_config
from tests.mail.helpers import BILLING, WEEKEND_DAMAGE

CALL = Call("1795940000.5", "4639999", "70111222", agent=1)
OTHER = Call("1795940000.6", "4639999", "70555666", agent=2)
HEADERS = {"X-Centralita": "1"}


@pytest.fixture
async def cons(engine: AsyncEngine) -> AsyncIterator[Console]:
    async with console(engine) as c:
        await c.answer(CALL)
        await c.answer(OTHER)
        yield c


def record(call: Call, trail: list[tuple[int, int]]) -> dict[str, object]:
    return {
        "call_id": call.uniqueid,
        "script_id": "4639999",
        "script_version": 1,
        "trail": [list(move) for move in trail],
        "note": "Cabina de la plaza sin tono",
    }


async def test_agent_sees_the_message_pending_then_sent(
    cons: Console, engine: AsyncEngine, smtp_server: SmtpServer, clock: FakeClock
) -> None:
    async with signed_in(cons, "ana") as ana:
        assert (await ana.get("/api/correos")).json() == []
        for click in range(3):  # the agent clicks three times: stored once, then returned
            r = await ana.post(
                "/api/interacciones", json=record(CALL, WEEKEND_DAMAGE), headers=HEADERS
            )
            assert r.status_code == (201 if click == 0 else 200), r.text
        [mail] = (await ana.get("/api/correos")).json()
        assert (mail["state"], mail["state_label"], mail["attempts"]) == ("pending", "pendiente", 0)
        assert mail["call_id"] == CALL.uniqueid
        assert mail["recipient"] == "encargado_telefonia_publica"
        assert mail["subject"].startswith("Daño de telefonía pública (fin de semana): 70111222")
        assert mail["created_at"].endswith("-04:00")  # America/La_Paz

        sender = MailSender(Outbox(engine), "lab", smtp_config(smtp_server.port), clock=clock)
        assert await sender.run_once() == 0  # SMTP down: the console does not care
        [mail] = (await ana.get("/api/correos")).json()
        assert (mail["state_label"], mail["attempts"]) == ("pendiente", 1)
        assert mail["last_error"] and mail["next_attempt_at"]

        smtp_server.start()
        clock.now += 3600
        assert await sender.run_once() == 1
        [mail] = (await ana.get("/api/correos")).json()
        assert (mail["state_label"], mail["to"]) == ("enviado", "telefonia.publica@example.com")
        assert mail["sent_at"] and mail["next_attempt_at"] is None
        [got] = smtp_server.recorder.received
        assert "Cabina de la plaza sin tono" in got.message.get_content()
        assert "Teléfono del que llamó: 70111222" in got.message.get_content()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_each_agent_sees_their_own_messages(cons: Console) -> None:
    async with signed_in(cons, "ana") as ana:
        await ana.post("/api/interacciones", json=record(CALL, WEEKEND_DAMAGE), headers=HEADERS)
        assert (await ana.get("/api/correos?agent=agent2")).status_code == 403
    async with signed_in(cons, "beto") as beto:
        r = await beto.post("/api/interacciones", json=record(OTHER, BILLING), headers=HEADERS)
        assert r.status_code == 201
        assert (await beto.get("/api/correos")).json() == []  # billing: no e-mail step
    async with signed_in(cons, "sofia") as sofia:
        every = (await sofia.get("/api/correos")).json()
        assert [m["call_id"] for m in every] == [CALL.uniqueid]
        assert (await sofia.get("/api/correos?agent=agent2")).json() == []
    transport = httpx.ASGITransport(app=cons.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as anon:
        assert (await anon.get("/api/correos")).status_code == 401
