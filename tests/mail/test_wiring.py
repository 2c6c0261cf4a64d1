"""The daemon registers the mail task when [mail] host is set, and that task delivers."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.console.interactions import InteractionStore
from centralita.mail.schema import outbox
from centralita.settings import parse_settings
from centralita.wiring import optional_tasks
from tests.mail.conftest import SmtpServer
from tests.mail.helpers import POP, WEEKEND_DAMAGE, interaction


def daemon_with(text: str, engine: AsyncEngine) -> tuple[Any, Any]:
    settings = parse_settings(text, env={})
    daemon = SimpleNamespace(settings=settings, stop_event=asyncio.Event())
    parts = SimpleNamespace(extra={}, engine=engine)
    return daemon, parts


async def test_no_mail_host_no_mail_task(engine: AsyncEngine) -> None:
    daemon, parts = daemon_with("[ivr]\nenabled = false\n[http]\nenabled = false\n", engine)
    assert optional_tasks(daemon, parts) == []


async def test_the_registered_mail_task_sends_the_outbox(
    engine: AsyncEngine, smtp_server: SmtpServer
) -> None:
    smtp_server.start()
    text = f"""
pbx_id = "lab"
[ivr]
enabled = false
[http]
enabled = false
[mail]
host = "127.0.0.1"
port = {smtp_server.port}
starttls = false
from_address = "centro.llamadas@example.com"
poll_interval_s = 0.05
recipients = {{ encargado_telefonia_publica = "telefonia.publica@example.com" }}
"""
    daemon, parts = daemon_with(text, engine)
    [task_coro] = optional_tasks(daemon, parts)
    assert getattr(task_coro, "__qualname__", "") == "MailSender.run"
    task = asyncio.create_task(task_coro)
    await InteractionStore(engine).append(interaction(WEEKEND_DAMAGE), call=POP)
    state = ""
    for _ in range(400):
        async with engine.connect() as conn:
            state = (await conn.execute(sa.select(outbox.c.state))).scalar_one()
        if state == "sent":
            break
        await asyncio.sleep(0.025)
    assert state == "sent"
    daemon.stop_event.set()
    await asyncio.wait_for(task, 10)
    [got] = smtp_server.recorder.received
    assert got.rcpt_tos == ["telefonia.publica@example.com"]
