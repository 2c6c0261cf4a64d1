"""The mail task against a real SMTP server in-process (aiosmtpd): delivery, an outage
and the recovery, refusals, unknown recipients, STARTTLS with login; both databases."""

from __future__ import annotations

import asyncio
import ssl

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from centralita.console.interactions import InteractionStore
from centralita.mail.outbox import Outbox
from centralita.mail.schema import outbox
from centralita.mail.sender import MailSender
from tests.mail.conftest import (
    SMTP_PASSWORD,
    SMTP_USER,
    Certificate,
    FakeClock,
    SmtpServer,
    free_port,
    smtp_config,
)
from tests.mail.helpers import POP, SUPERVISOR_103, WEEKEND_DAMAGE, interaction


async def only_row(engine: AsyncEngine) -> sa.Row[tuple[object, ...]]:
    async with engine.connect() as conn:
        [row] = (await conn.execute(sa.select(outbox))).all()
    return row


async def test_a_queued_message_is_delivered(
    engine: AsyncEngine, smtp_server: SmtpServer, clock: FakeClock
) -> None:
    smtp_server.start()
    await InteractionStore(engine).append(interaction(WEEKEND_DAMAGE), call=POP)
    sender = MailSender(Outbox(engine), "lab", smtp_config(smtp_server.port), clock=clock)
    assert await sender.run_once() == 1
    [got] = smtp_server.recorder.received
    assert got.mail_from == "centro.llamadas@example.com"
    assert got.rcpt_tos == ["telefonia.publica@example.com"]
    assert got.message["To"] == "telefonia.publica@example.com"
    assert got.message["Subject"] == (
        "Daño de telefonía pública (fin de semana): 70111222, contrato 1234567"
    )
    body = got.message.get_content()
    assert "Cliente: Juana Pérez" in body and "sin tono desde el sábado" in body
    row = await only_row(engine)
    assert (row.state, row.attempts, row.to_address) == ("sent", 1, "telefonia.publica@example.com")
    assert row.sent_at_ms == int(clock.now * 1000)
    assert got.message["Message-ID"] == f"<centralita-outbox-{row.id}.lab@example.com>"
    assert await sender.run_once() == 0  # sent once, never again
    assert len(smtp_server.recorder.received) == 1


async def test_smtp_down_leaves_it_pending_and_it_goes_when_the_server_is_back(
    engine: AsyncEngine, smtp_server: SmtpServer, clock: FakeClock
) -> None:
    config = smtp_config(smtp_server.port, retry_min_s=30.0)
    sender = MailSender(Outbox(engine), "lab", config, clock=clock)
    await InteractionStore(engine).append(interaction(WEEKEND_DAMAGE), call=POP)

    with capture_logs() as logs:
        assert await sender.run_once() == 0  # nothing listens on the port
        row = await only_row(engine)
        assert (row.state, row.attempts) == ("pending", 1)
        assert row.last_error and "onnect" in row.last_error
        assert row.next_attempt_at_ms == int(clock.now * 1000) + 30_000

        clock.now += 10  # not yet due: no attempt
        assert await sender.run_once() == 0
        assert (await only_row(engine)).attempts == 1

        clock.now += 25  # due again, still down: the wait doubles
        assert await sender.run_once() == 0
        row = await only_row(engine)
        assert (row.state, row.attempts) == ("pending", 2)
        assert row.next_attempt_at_ms == int(clock.now * 1000) + 60_000

        smtp_server.start()
        clock.now += 60
        assert await sender.run_once() == 1
    row = await only_row(engine)
    assert (row.state, row.attempts, row.last_error) == ("sent", 3, None)
    assert [r.rcpt_tos for r in smtp_server.recorder.received] == [
        ["telefonia.publica@example.com"]
    ]
    # healthy -> failing is one error line (the retries are debug), the recovery is said
    said = [
        (e["event"], e["log_level"])
        for e in logs
        if e["event"].startswith("mail_") and e["log_level"] != "debug"
    ]
    assert said == [
        ("mail_send_failed", "error"),
        ("mail_server_recovered", "info"),
        ("mail_sent", "info"),
    ]
    assert all("70111222" not in str(e) for e in logs)  # no caller number in the logs


async def test_the_task_never_blocks_and_sends_when_the_server_comes_back(
    engine: AsyncEngine, smtp_server: SmtpServer
) -> None:
    """The daemon's task on the real clock: the server down, then up; stop ends it."""
    config = smtp_config(smtp_server.port, retry_min_s=0.05, retry_max_s=0.05)
    sender = MailSender(Outbox(engine), "lab", config)
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    await InteractionStore(engine).append(interaction(WEEKEND_DAMAGE), call=POP)
    row = await only_row(engine)
    for _ in range(400):  # wait until an attempt failed
        if row.last_error is not None:
            break
        await asyncio.sleep(0.025)
        row = await only_row(engine)
    assert row.last_error is not None
    assert row.state == "pending"
    smtp_server.start()
    for _ in range(400):
        if (await only_row(engine)).state == "sent":
            break
        await asyncio.sleep(0.025)
    assert (await only_row(engine)).state == "sent"
    stop.set()
    await asyncio.wait_for(task, 10)
    assert len(smtp_server.recorder.received) == 1


async def test_a_server_that_never_answers_times_out_and_stays_pending(
    engine: AsyncEngine, clock: FakeClock
) -> None:
    accepted: list[asyncio.StreamWriter] = []

    def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # accept the connection, never greet

    silent = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        config = smtp_config(port, timeout_s=0.3)
        sender = MailSender(Outbox(engine), "lab", config, clock=clock)
        await InteractionStore(engine).append(interaction(WEEKEND_DAMAGE), call=POP)
        assert await sender.run_once() == 0
    finally:
        for writer in accepted:
            writer.close()
        silent.close()
        await silent.wait_closed()
    assert accepted  # the sender did connect and waited for the greeting
    row = await only_row(engine)
    assert (row.state, row.attempts) == ("pending", 1)
    assert row.last_error and "Timeout" in row.last_error


async def test_a_refused_recipient_is_failed_for_good(
    engine: AsyncEngine, smtp_server: SmtpServer, clock: FakeClock
) -> None:
    smtp_server.recorder.refuse_recipients = True
    smtp_server.start()
    sender = MailSender(Outbox(engine), "lab", smtp_config(smtp_server.port), clock=clock)
    await InteractionStore(engine).append(interaction(WEEKEND_DAMAGE), call=POP)
    assert await sender.run_once() == 0
    row = await only_row(engine)
    assert (row.state, row.attempts) == ("failed", 1)
    assert row.last_error and "550" in row.last_error
    clock.now += 10_000
    assert await sender.run_once() == 0
    assert (await only_row(engine)).attempts == 1


async def test_an_unconfigured_recipient_waits_then_fails_after_max_attempts(
    engine: AsyncEngine, smtp_server: SmtpServer, clock: FakeClock
) -> None:
    smtp_server.start()
    config = smtp_config(smtp_server.port, recipients={}, max_attempts=2)
    sender = MailSender(Outbox(engine), "lab", config, clock=clock)
    pop = {**POP, "service": "103"}
    await InteractionStore(engine).append(interaction(SUPERVISOR_103, script_id="103"), call=pop)
    assert await sender.run_once() == 0
    row = await only_row(engine)
    assert row.state == "pending"
    assert row.last_error == "destinatario «jefatura_sector» sin dirección en [mail] recipients"
    clock.now += 31
    assert await sender.run_once() == 0
    assert (await only_row(engine)).state == "failed"
    assert smtp_server.recorder.received == []


async def test_another_pbx_messages_are_left_to_its_own_daemon(
    engine: AsyncEngine, smtp_server: SmtpServer, clock: FakeClock
) -> None:
    smtp_server.start()
    await InteractionStore(engine).append(interaction(WEEKEND_DAMAGE), call=POP)
    other = MailSender(Outbox(engine), "pbx2", smtp_config(smtp_server.port), clock=clock)
    assert await other.run_once() == 0
    assert (await only_row(engine)).attempts == 0


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_starttls_and_login_with_a_self_signed_certificate(
    engine: AsyncEngine, self_signed: Certificate, clock: FakeClock
) -> None:
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(self_signed.cert, self_signed.key)
    server = SmtpServer(free_port(), tls_context=server_tls)
    server.start()
    try:
        await InteractionStore(engine).append(interaction(WEEKEND_DAMAGE), call=POP)
        good = smtp_config(
            server.port,
            starttls=True,
            ca_file=str(self_signed.cert),
            username=SMTP_USER,
            password=SMTP_PASSWORD,
        )
        # without STARTTLS the server refuses (it requires it): the message waits
        plain = smtp_config(server.port, username=SMTP_USER, password=SMTP_PASSWORD)
        assert await MailSender(Outbox(engine), "lab", plain, clock=clock).run_once() == 0
        assert (await only_row(engine)).state == "pending"
        # the certificate is checked: the system CAs do not know a self-signed one
        untrusted = smtp_config(
            server.port, starttls=True, username=SMTP_USER, password=SMTP_PASSWORD
        )
        clock.now += 3600
        assert await MailSender(Outbox(engine), "lab", untrusted, clock=clock).run_once() == 0
        assert "CERTIFICATE_VERIFY_FAILED" in str((await only_row(engine)).last_error)
        # a wrong password is retried later (the operator fixes the file), never sent
        wrong = smtp_config(
            server.port,
            starttls=True,
            ca_file=str(self_signed.cert),
            username=SMTP_USER,
            password="otra",
        )
        clock.now += 3600
        assert await MailSender(Outbox(engine), "lab", wrong, clock=clock).run_once() == 0
        assert (await only_row(engine)).state == "pending"
        clock.now += 3600
        assert await MailSender(Outbox(engine), "lab", good, clock=clock).run_once() == 1
        [got] = server.recorder.received
        assert got.rcpt_tos == ["telefonia.publica@example.com"]
        assert (await only_row(engine)).state == "sent"
    finally:
        server.stop()
