"""The daemon's mail task: send what the outbox holds over SMTP, retry with backoff.

Each pass reads the messages whose next attempt time has come, counts the attempt
(`Outbox.claim`, which also holds the message until its retry time should the daemon
die mid-send), sends it with aiosmtplib and records the result. A server that is down,
slow or refusing for now leaves the message pending with its error and a later retry
time (doubling from ``retry_min_s`` up to ``retry_max_s``); a permanent refusal (5xx for
the recipient or the data) or ``max_attempts`` tries marks it failed. The task never
raises: a database outage is logged and the next pass tries again; it ends on ``stop``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib
import structlog

from centralita.mail.config import SmtpConfig
from centralita.mail.exceptions import DeliveryError
from centralita.mail.outbox import Outbox, QueuedMessage
from centralita.scripts import load_all

log = structlog.get_logger(__name__)


def build_message(config: SmtpConfig, message: QueuedMessage, to_address: str) -> EmailMessage:
    """The MIME message; its Message-ID is the outbox row's, the same on every retry."""
    mail = EmailMessage()
    domain = config.from_address.rpartition("@")[2]
    mail["From"] = config.from_address
    mail["To"] = to_address
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(message.created_at_ms / 1000, localtime=False)
    mail["Message-ID"] = f"<centralita-outbox-{message.id}.{message.pbx_id}@{domain}>"
    mail["X-Centralita-Call"] = message.call_uniqueid
    mail.set_content(message.body)
    return mail


def _is_permanent(exc: aiosmtplib.SMTPException) -> bool:
    """A refusal no retry will change: the recipient or the content, with a 5xx code."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return all(500 <= r.code < 600 for r in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError):
        return 500 <= exc.code < 600
    return False


async def deliver(config: SmtpConfig, mail: EmailMessage) -> None:
    """Send one message over SMTP (STARTTLS / TLS and login as configured).

    Raises:
        DeliveryError: not accepted; ``permanent`` when a retry cannot help.
    """
    try:
        await aiosmtplib.send(
            mail,
            hostname=config.host,
            port=config.port,
            username=config.username,
            password=config.password,
            use_tls=config.tls,
            start_tls=config.starttls,
            tls_context=config.tls_context,
            timeout=config.timeout_s,
        )
    except aiosmtplib.SMTPException as exc:
        reason = f"{type(exc).__name__}: {exc}"
        raise DeliveryError(reason, permanent=_is_permanent(exc)) from exc
    except (OSError, ssl.SSLError, TimeoutError) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc


def unconfigured_recipients(config: SmtpConfig) -> list[str]:
    """Recipient names the packaged scripts' e-mail steps use that [mail] does not map."""
    names = {
        step.email.to
        for script in load_all().values()
        for step in script.steps
        if step.email is not None
    }
    return sorted(name for name in names if config.address_of(name) is None)


class MailSender:
    """Sends one PBX's outbox; `run` is the daemon's task, `run_once` one pass."""

    def __init__(
        self,
        outbox: Outbox,
        pbx_id: str,
        config: SmtpConfig,
        *,
        clock: Callable[[], float] = time.time,
        send: Callable[[SmtpConfig, EmailMessage], Awaitable[None]] = deliver,
    ) -> None:
        self.outbox = outbox
        self.pbx_id = pbx_id
        self.config = config
        self.clock = clock
        self.send = send
        self.failing = False
        self._unknown_reported: set[str] = set()

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def run(self, stop: asyncio.Event) -> None:
        """Pass after pass until `stop` is set (a pass in progress is cancelled then)."""
        log.info("mail_sender_started", host=self.config.host, port=self.config.port)
        missing = unconfigured_recipients(self.config)
        if missing:  # their messages wait (pending) until [mail] recipients names them
            log.warning("mail_recipients_missing", names=missing)
        stopping = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                work = asyncio.create_task(self.run_once())
                await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not work.done():
                    work.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await work
                    break
                if work.exception() is not None:
                    log.error("mail_pass_failed", error=repr(work.exception()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(stopping), self.config.poll_interval_s)
        finally:
            stopping.cancel()
            log.info("mail_sender_stopped")

    async def run_once(self) -> int:
        """One pass over the messages due now; returns how many were sent."""
        sent = 0
        for message in await self.outbox.due(self.pbx_id, self._now_ms()):
            if await self._attempt(message):
                sent += 1
        return sent

    async def _attempt(self, message: QueuedMessage) -> bool:
        attempts = message.attempts + 1
        lease_ms = self._now_ms() + int(self.config.backoff_s(attempts) * 1000)
        if not await self.outbox.claim(message, lease_ms):
            return False
        address = self.config.address_of(message.recipient)
        try:
            if address is None:
                if message.recipient not in self._unknown_reported:
                    self._unknown_reported.add(message.recipient)
                    log.warning("mail_recipient_unknown", recipient=message.recipient)
                raise DeliveryError(
                    f"destinatario «{message.recipient}» sin dirección en [mail] recipients"
                )
            await self.send(self.config, build_message(self.config, message, address))
        except DeliveryError as exc:
            await self._failed(message, attempts, exc)
            return False
        await self.outbox.mark_sent(message.id, address, self._now_ms())
        if self.failing:
            self.failing = False
            log.info("mail_server_recovered", host=self.config.host)
        log.info("mail_sent", message_id=message.id, uniqueid=message.call_uniqueid)
        return True

    async def _failed(self, message: QueuedMessage, attempts: int, exc: DeliveryError) -> None:
        if exc.permanent or attempts >= self.config.max_attempts:
            await self.outbox.mark_failed(message.id, exc.reason)
            log.error("mail_given_up", message_id=message.id, attempts=attempts, error=exc.reason)
            return
        next_ms = self._now_ms() + int(self.config.backoff_s(attempts) * 1000)
        await self.outbox.mark_retry(message.id, exc.reason, next_ms)
        if not self.failing:
            self.failing = True
            log.error("mail_send_failed", message_id=message.id, error=exc.reason)
        else:
            log.debug("mail_send_failed", message_id=message.id, error=exc.reason)
