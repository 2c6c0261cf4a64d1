"""A real SMTP server in-process (aiosmtpd) that records what it accepts, on a port the
test chooses (so it can be down first and come up later), with optional STARTTLS."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.store import make_engine
from centralita.db import migrate
from centralita.mail.config import SmtpConfig

SMTP_USER = "centralita"
SMTP_PASSWORD = "clave-smtp-de-prueba"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Recorder:
    """aiosmtpd handler: keeps every accepted message; can refuse recipients with 550."""

    received: list[Received] = field(default_factory=list)
    refuse_recipients: bool = False

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if self.refuse_recipients:
            return "550 5.1.1 <" + address + ">: buzón inexistente"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


def _authenticate(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SmtpServer:
    """One aiosmtpd server on a fixed port, started and stopped by the test."""

    port: int
    recorder: Recorder = field(default_factory=Recorder)
    tls_context: ssl.SSLContext | None = None
    controller: Controller | None = None

    def start(self) -> None:
        kwargs: dict[str, Any] = {}
        if self.tls_context is not None:
            kwargs = {
                "tls_context": self.tls_context,
                "require_starttls": True,
                "authenticator": _authenticate,
                "auth_required": True,
            }
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port, **kwargs)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A plain SMTP server on a free port, not started yet (the test starts it)."""
    server = SmtpServer(free_port())
    yield server
    server.stop()


@dataclass
class Certificate:
    cert: Path
    key: Path


@pytest.fixture
def self_signed(tmp_path: Path) -> Certificate:
    """A self-signed certificate for 127.0.0.1, made by the openssl command (skip without)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is missing (apt-get install openssl)")
    cert, key = tmp_path / "smtp.crt", tmp_path / "smtp.key"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return Certificate(cert, key)


def smtp_config(port: int, **overrides: Any) -> SmtpConfig:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "starttls": False,
        "tls": False,
        "ca_file": "",
        "username": "",
        "password": "",
        "from_address": "centro.llamadas@example.com",
        "recipients": {
            "encargado_telefonia_publica": "telefonia.publica@example.com",
            "jefatura_sector": "jefatura.sector@example.com",
        },
        "timeout_s": 5.0,
        "poll_interval_s": 0.05,
        "retry_min_s": 30.0,
        "retry_max_s": 600.0,
        "max_attempts": 5,
    }
    values.update(overrides)
    return SmtpConfig.build(**values)


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a database migrated to head (so ``outbox`` comes from migration 0009)."""
    eng = make_engine(db_url)
    await migrate(eng)
    yield eng
    await eng.dispose()


class FakeClock:
    """Epoch seconds the test advances (backoff is checked without waiting); it starts a
    minute past the real time, as the interactions the test records (due at once) are
    dated by the real clock."""

    def __init__(self) -> None:
        self.now = float(int(time.time()) + 60)

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
