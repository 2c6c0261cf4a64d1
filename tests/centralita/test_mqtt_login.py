"""[mqtt] username, password (environment or file) and TLS: the daemon's publisher logs in
to a Mosquitto that refuses anonymous clients, is refused with a wrong password, and speaks
TLS with the broker's CA; the password never reaches a log line."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiomqtt
import pytest
from structlog.testing import capture_logs

from centralita.daemon import Daemon
from centralita.screenpop.publisher import ScreenPopPublisher
from centralita.settings import Settings, SettingsError, parse_settings
from centralita.simulator.capture_server import CaptureServer
from tests.brokers import free_port
from tests.centralita.secured_broker import PASSWORD, USER, SecuredBroker, secured_broker
from tests.conftest import FIXTURES

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def password_broker(tmp_path: Path) -> Iterator[SecuredBroker]:
    yield from secured_broker(tmp_path / "plain", tls=False)


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[SecuredBroker]:
    yield from secured_broker(tmp_path / "tls", tls=True)


def mqtt_settings(
    broker: SecuredBroker, tmp_path: Path, *, password: str, extra: str = ""
) -> Settings:
    password_file = tmp_path / "mqtt.password"
    password_file.write_text(password + "\n", "utf-8")
    text = (
        f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\nusername = "{USER}"\n'
        f'password_file = "{password_file}"\n{extra}'
    )
    return parse_settings(text, "<test>", env={})


def publisher_for(settings: Settings) -> ScreenPopPublisher:
    """The publisher as centralita.wiring builds it from the settings."""
    login = settings.mqtt_login()
    return ScreenPopPublisher(
        "sec",
        settings.mqtt.host,
        settings.mqtt.port,
        username=login.username,
        password=login.password,
        tls_context=login.tls_context,
        tls_insecure=login.tls_insecure,
        backoff_s=(0.05, 0.2),
    )


@contextlib.asynccontextmanager
async def running(publisher: ScreenPopPublisher) -> AsyncIterator[None]:
    task = asyncio.create_task(publisher.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(predicate: Callable[[], bool], within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def retained_status(broker: SecuredBroker, tls: ssl.SSLContext | None = None) -> bytes:
    async with aiomqtt.Client(
        broker.host, broker.port, username=USER, password=PASSWORD, tls_context=tls
    ) as sub:
        await sub.subscribe("centralita/sec/status", qos=1)
        async for message in sub.messages:
            assert isinstance(message.payload, bytes)
            return message.payload
    raise AssertionError("no status")


# ------------------------------------------------------------------------- settings
def test_login_settings_are_checked_and_the_password_never_shows(tmp_path: Path) -> None:
    base = '[mqtt]\nhost = "mqtt.internal"\n'
    env = {"CENTRALITA_MQTT_PASSWORD": "s3cr3t-pw"}
    import os

    assert parse_settings(base, "c", env={}).mqtt_login().username is None
    os.environ.update(env)
    try:
        with pytest.raises(SettingsError, match=r"falta mqtt\.username"):
            parse_settings(base, "c", env={}).mqtt_login()
    finally:
        del os.environ["CENTRALITA_MQTT_PASSWORD"]
    with pytest.raises(SettingsError, match="requieren tls"):
        parse_settings(base + 'ca_file = "/x"\n', "c", env={}).mqtt_login()
    with pytest.raises(SettingsError, match=r"mqtt\.ca_file: no se puede usar"):
        parse_settings(
            base + f'tls = true\nca_file = "{tmp_path / "none.crt"}"\n', "c", env={}
        ).mqtt_login()
    with pytest.raises(SettingsError, match=r"mqtt\.password_file"):
        parse_settings(
            base + f'username = "u"\npassword_file = "{tmp_path / "none"}"\n', "c", env={}
        ).mqtt_login()
    os.environ.update(env)
    try:
        login = parse_settings(base + 'username = "cc"\ntls = true\n', "c", env={}).mqtt_login()
    finally:
        del os.environ["CENTRALITA_MQTT_PASSWORD"]
    assert (login.username, login.password) == ("cc", "s3cr3t-pw")
    assert login.tls_context is not None and login.tls_context.check_hostname
    assert "s3cr3t-pw" not in repr(login)
    assert not login.tls_insecure
    insecure = parse_settings(base + "tls = true\ntls_insecure = true\n", "c", env={})
    assert insecure.mqtt_login().tls_insecure
    assert insecure.mqtt_login().tls_context.check_hostname is False  # type: ignore[union-attr]


# ------------------------------------------------------------------------- publisher
async def test_publisher_logs_in_and_is_refused_with_a_wrong_password(
    password_broker: SecuredBroker, tmp_path: Path
) -> None:
    good = publisher_for(mqtt_settings(password_broker, tmp_path, password=PASSWORD))
    async with running(good):
        await until(lambda: good.stats.connected)
        assert await retained_status(password_broker) == b'{"status":"online"}'
    wrong = publisher_for(mqtt_settings(password_broker, tmp_path, password="not-it"))
    with capture_logs() as logs:
        async with running(wrong):
            await until(lambda: any(e["event"] == "mqtt_connection_failed" for e in logs))
    assert wrong.stats.connects == 0
    failed = next(e for e in logs if e["event"] == "mqtt_connection_failed")
    assert "not authori" in failed["reason"].lower() or "bad user" in failed["reason"].lower()
    assert "not-it" not in repr(logs)
    anonymous = ScreenPopPublisher("sec", password_broker.host, password_broker.port)
    with capture_logs() as logs:
        async with running(anonymous):
            await until(lambda: any(e["event"] == "mqtt_connection_failed" for e in logs))
    assert anonymous.stats.connects == 0


# paho does not close the socket of a failed TLS handshake (Client._ssl_wrap_socket); it is
# closed when collected, with a ResourceWarning.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_publisher_speaks_tls_with_the_brokers_ca_only(
    tls_broker: SecuredBroker, tmp_path: Path
) -> None:
    assert tls_broker.ca_file is not None
    settings = mqtt_settings(
        tls_broker,
        tmp_path,
        password=PASSWORD,
        extra=f'tls = true\nca_file = "{tls_broker.ca_file}"\n',
    )
    publisher = publisher_for(settings)
    async with running(publisher):
        await until(lambda: publisher.stats.connected)
        status = await retained_status(tls_broker, settings.mqtt_login().tls_context)
    assert status == b'{"status":"online"}'
    # The system's CAs do not know the broker's: the certificate is refused.
    untrusted = publisher_for(
        mqtt_settings(tls_broker, tmp_path, password=PASSWORD, extra="tls = true\n")
    )
    with capture_logs() as logs:
        async with running(untrusted):
            await until(lambda: any(e["event"] == "mqtt_connection_failed" for e in logs))
    assert untrusted.stats.connects == 0
    assert "certificate" in next(
        e["reason"] for e in logs if e["event"] == "mqtt_connection_failed"
    )


# ------------------------------------------------------------------------- daemon
async def test_the_daemon_publishes_through_a_broker_that_needs_login_and_tls(
    tls_broker: SecuredBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``centralita run``'s wiring: password from $CENTRALITA_MQTT_PASSWORD, TLS with
    ca_file; the daemon's publisher connects and the password is in no log line."""
    data = (FIXTURES / "GIT-11-f3cdc37300-scenario.ami").read_bytes()
    server = CaptureServer(data, secret="sec-ami")
    ami_port = await server.start()
    (tmp_path / "ami.secret").write_text("sec-ami")
    text = (
        'pbx_id = "sec"\n'
        f'[ami]\nport = {ami_port}\nsecret_file = "{tmp_path / "ami.secret"}"\n'
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "d.db"}"\n'
        f'[mqtt]\nhost = "{tls_broker.host}"\nport = {tls_broker.port}\nusername = "{USER}"\n'
        f'tls = true\nca_file = "{tls_broker.ca_file}"\n'
        "[ivr]\nenabled = false\n"
        f"[http]\nport = {free_port()}\n"
    )
    monkeypatch.setenv("CENTRALITA_MQTT_PASSWORD", PASSWORD)
    daemon = Daemon(parse_settings(text, "<test>", env={}))
    with capture_logs() as logs:
        parts = await daemon.build()
        runner = asyncio.create_task(daemon.run())
        publisher = parts.extra["publisher"]
        try:
            await until(lambda: publisher.stats.connected)
            await asyncio.wait_for(server.finished.wait(), 30)
            await until(lambda: publisher.stats.published > 0 and publisher.buffered() == 0)
        finally:
            daemon.stop()
            assert await asyncio.wait_for(runner, 30) == 0
            await server.close()
    connected = next(e for e in logs if e["event"] == "mqtt_connected")
    assert (connected["username"], connected["tls"]) == (USER, True)
    assert PASSWORD not in repr(logs)
