"""`centralita doctor` against the simulator, a closed port, a wrong secret, an empty or
unreachable database, a stopped broker and a broken routing file: each problem is named
in plain words and makes the exit code non-zero."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from centralita.ami_listener.store import make_engine
from centralita.db import migrate
from centralita.doctor import (
    Finding,
    check_ami,
    check_broker,
    check_directory,
    diagnose,
    render,
)
from centralita.settings import Settings, parse_settings
from centralita.simulator.config import lab_config
from centralita.simulator.runner import Simulator
from tests.brokers import free_port
from tests.centralita.secured_broker import PASSWORD, USER, SecuredBroker, secured_broker
from tests.integration.helpers import SECRET

pytestmark = pytest.mark.timeout(60)


def settings_for(tmp_path: Path, ami_port: int, db_url: str, extra: str = "") -> Settings:
    secret = tmp_path / "ami.secret"
    secret.write_text(SECRET, "utf-8")
    text = f"""
pbx_id = "doctor"
[ami]
port = {ami_port}
secret_file = "{secret}"
[database]
url = "{db_url}"
{extra}
"""
    return parse_settings(text, "<test>", env={})


async def migrated(url: str) -> str:
    engine = make_engine(url)
    await migrate(engine)
    await engine.dispose()
    return url


@contextlib.asynccontextmanager
async def busy_pbx() -> AsyncIterator[Simulator]:
    """The simulator running at 60x: calls (and their events) flow while doctor watches."""
    async with Simulator(lab_config(calls=0), seed=3, speed=60.0, secret=SECRET) as sim:
        run = asyncio.create_task(sim.run())
        try:
            yield sim
        finally:
            await sim.close()
            await run


def by_status(findings: list[Finding], status: str) -> list[str]:
    return [f"{f.area}: {f.message}" for f in findings if f.status == status]


async def test_all_good_against_the_simulator(tmp_path: Path, sqlite_url: str) -> None:
    await migrated(sqlite_url)
    async with busy_pbx() as sim:
        settings = settings_for(tmp_path, sim.port, sqlite_url)
        findings = await diagnose(settings, timeout_s=5, events_s=3)
    assert by_status(findings, "fail") == []
    text = render(findings, "doctor")
    assert "sesión iniciada como 'centralita'" in text
    assert "11 colas, 8 agentes" in text
    assert "llegan eventos de call, agent" in text
    assert "esquema al día" in text
    assert "todo en orden" in text


async def test_wrong_secret_is_said_plainly(tmp_path: Path, sqlite_url: str) -> None:
    await migrated(sqlite_url)
    async with Simulator(lab_config(calls=1), seed=1, speed=None, secret="other") as sim:
        findings = await diagnose(settings_for(tmp_path, sim.port, sqlite_url), timeout_s=5)
    (failure,) = by_status(findings, "fail")
    assert "login rechazado" in failure
    assert "Authentication failed" in failure
    assert "'centralita'" in failure
    assert SECRET not in render(findings, "doctor")  # never print the secret


async def test_closed_port_and_missing_database(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    url = f"sqlite+aiosqlite:///{tmp_path / 'missing.db'}"
    findings = await diagnose(settings_for(tmp_path, port, url), timeout_s=2)
    failures = by_status(findings, "fail")
    assert any(f"no se puede conectar a 127.0.0.1:{port}" in f for f in failures)
    assert any("missing.db no existe: ejecute `centralita db-migrate`" in f for f in failures)
    assert not (tmp_path / "missing.db").exists()  # doctor does not create it


async def test_an_unusable_database_url_is_a_finding(tmp_path: Path) -> None:
    findings = await diagnose(settings_for(tmp_path, free_port(), "foo://bar"), timeout_s=2)
    assert any("la base «foo» no está soportada" in f for f in by_status(findings, "fail"))


async def test_empty_database_asks_for_migration(tmp_path: Path, sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    async with engine.begin() as conn:  # an existing, empty file
        await conn.exec_driver_sql("CREATE TABLE unrelated (x INTEGER)")
    await engine.dispose()
    findings = await diagnose(settings_for(tmp_path, free_port(), sqlite_url), timeout_s=2)
    assert any("no tiene el esquema" in f for f in by_status(findings, "fail"))


async def test_unreachable_postgres_and_broker(tmp_path: Path) -> None:
    closed = free_port()
    url = f"postgresql+asyncpg://centralita@127.0.0.1:{closed}/centralita"
    extra = f'[mqtt]\nhost = "127.0.0.1"\nport = {closed}\n'
    findings = await diagnose(settings_for(tmp_path, closed, url, extra), timeout_s=2)
    failures = by_status(findings, "fail")
    assert any("base de datos" in f and "no acepta conexiones" in f for f in failures)
    assert any(f"broker MQTT en 127.0.0.1:{closed}" in f for f in failures)


async def test_real_broker_is_ok(tmp_path: Path, mqtt_broker: tuple[str, int]) -> None:
    host, port = mqtt_broker
    extra = f'[mqtt]\nhost = "{host}"\nport = {port}\n'
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    findings = await diagnose(settings_for(tmp_path, free_port(), url, extra), timeout_s=5)
    assert any(f.area == "broker" and f.status == "ok" for f in findings)


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[SecuredBroker]:
    yield from secured_broker(tmp_path / "broker", tls=True)


# paho leaves the socket of a failed TLS handshake to the garbage collector (ResourceWarning).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_broker_login_and_tls_are_checked_as_the_daemon_connects(
    tmp_path: Path, tls_broker: SecuredBroker
) -> None:
    def settings(password: str, tls: str) -> Settings:
        (tmp_path / "mqtt.pw").write_text(password, "utf-8")
        extra = (
            f'[mqtt]\nhost = "{tls_broker.host}"\nport = {tls_broker.port}\nusername = "{USER}"\n'
            f'password_file = "{tmp_path / "mqtt.pw"}"\n{tls}'
        )
        return settings_for(tmp_path, free_port(), "sqlite+aiosqlite://", extra)

    with_ca = f'tls = true\nca_file = "{tls_broker.ca_file}"\n'
    good = await check_broker(settings(PASSWORD, with_ca), 5)
    assert [(f.status, f.message) for f in good] == [
        (
            "ok",
            f"broker MQTT en 127.0.0.1:{tls_broker.port} acepta conexiones (usuario {USER!r}, TLS)",
        )
    ]
    wrong = await check_broker(settings("not-the-password", with_ca), 5)
    assert len(wrong) == 1 and wrong[0].status == "fail"
    assert f"rechazó el usuario {USER!r}" in wrong[0].message
    assert "mqtt.password_file" in wrong[0].message
    assert "not-the-password" not in wrong[0].message
    untrusted = await check_broker(settings(PASSWORD, "tls = true\n"), 5)
    assert untrusted[0].status == "fail" and "TLS con el broker" in untrusted[0].message
    plaintext = await check_broker(settings(PASSWORD, ""), 5)
    assert plaintext[0].status == "fail"  # a TLS-only listener: no MQTT in plaintext
    missing_ca = await check_broker(settings(PASSWORD, 'tls = true\nca_file = "/nope.crt"\n'), 5)
    assert missing_ca[0].status == "fail" and "mqtt.ca_file" in missing_ca[0].message


async def test_anonymous_plaintext_to_a_remote_broker_is_a_warning(
    tmp_path: Path, mqtt_broker: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a loopback broker anonymous plaintext is fine; anywhere else it is flagged (a
    broker that needs neither login nor TLS lets anyone on the network read the pops)."""
    from centralita import doctor

    host, port = mqtt_broker
    settings = settings_for(
        tmp_path, free_port(), "sqlite+aiosqlite://", f'[mqtt]\nhost = "{host}"\nport = {port}\n'
    )
    local = await check_broker(settings, 5)
    assert [f.status for f in local] == ["ok"]
    assert "(anónimo, sin cifrar)" in local[0].message
    assert doctor._loopback("::1") and doctor._loopback("localhost")
    assert not doctor._loopback("mqtt.internal") and not doctor._loopback("10.0.0.5")
    monkeypatch.setattr(doctor, "_loopback", lambda _host: False)  # as if it were remote
    remote = await check_broker(settings, 5)
    assert [f.status for f in remote] == ["ok", "warn"]
    assert "sin usuario y contraseña" in remote[1].message and "mqtt.tls" in remote[1].message


# Some of Asterisk's actions and the write classes they are registered with (main/manager.c,
# apps/app_queue.c): ListCommands lists an action when the user holds one of its classes,
# or when it has none.
ACTIONS = {
    "Ping": (),
    "ListCommands": (),
    "QueueStatus": (),
    "Status": ("system", "call", "reporting"),
    "CoreShowChannels": ("system", "reporting"),
    "Hangup": ("system", "call"),
    "Redirect": ("call",),
    "Originate": ("originate",),
    "Command": ("command",),
}


@contextlib.asynccontextmanager
async def fake_ami(write: str) -> AsyncIterator[int]:
    """An AMI that logs in ``centralita`` with these write classes (queue ``q1``, no calls)."""
    granted = set(write.split(","))

    def frame(*fields: tuple[str, str]) -> bytes:
        return "".join(f"{k}: {v}\r\n" for k, v in fields).encode() + b"\r\n"

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/5.0.1\r\n")
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                action = dict(
                    line.split(": ", 1) for line in raw.decode().split("\r\n") if ": " in line
                )
                aid = ("ActionID", action.get("ActionID", ""))
                name = action.get("Action", "")
                if name == "Login":
                    writer.write(frame(("Response", "Success"), aid, ("Message", "Accepted")))
                elif name == "QueueStatus":
                    writer.write(frame(("Response", "Success"), aid, ("EventList", "start")))
                    writer.write(frame(("Event", "QueueParams"), ("Queue", "q1"), aid))
                    writer.write(frame(("Event", "QueueStatusComplete"), aid))
                elif name == "ListCommands":
                    lines = [
                        (action_name, f"An action. (Priv: {','.join(classes) or '<none>'},all)")
                        for action_name, classes in ACTIONS.items()
                        if not classes or granted & set(classes)
                    ]
                    writer.write(frame(("Response", "Success"), aid, *lines))
                elif name == "Logoff":
                    writer.write(frame(("Response", "Goodbye"), aid))
                    break
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    ("write", "campaign", "status", "words"),
    [
        ("reporting", False, "ok", "permisos de escritura justos: reporting"),
        ("reporting,originate", True, "ok", "permisos de escritura justos: originate,reporting"),
        (
            "reporting,originate",
            False,
            "warn",
            "(la campaña está desactivada): puede ejecutar Originate; deje write=reporting",
        ),
        ("originate", True, "fail", "no puede pedir Status"),
        ("reporting", True, "fail", "no puede hacer Originate"),
        ("system,call,command", False, "warn", "Command, Hangup, Redirect"),
    ],
)
async def test_ami_write_classes_beyond_the_enabled_features_are_flagged(
    tmp_path: Path, write: str, campaign: bool, status: str, words: str
) -> None:
    extra = "[campaign]\nenabled = true\n" if campaign else ""
    async with fake_ami(write) as port:
        settings = settings_for(tmp_path, port, "sqlite+aiosqlite://", extra)
        findings = await check_ami(settings, timeout_s=5, events_s=0.1)
    about = [f for f in findings if "permisos" in f.message or "no puede" in f.message]
    assert [(f.status, words in f.message) for f in about] == [(status, True)], about
    assert any("1 colas" in f.message for f in findings)


async def test_cli_broken_routing_file_exits_non_zero(tmp_path: Path) -> None:
    routing = tmp_path / "routing.toml"
    routing.write_text('timezone = "America/La_Paz"\n[[service]]\nkey = 101\n', "utf-8")
    config = tmp_path / "centralita.toml"
    config.write_text(
        f'[ami]\nport = {free_port()}\n[routing]\npath = "{routing}"\n'
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "c.db"}"\n',
        "utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CENTRALITA_")}
    env["CENTRALITA_AMI_SECRET"] = SECRET
    returncode, text = await run_doctor("--config", str(config), "--timeout", "2", env=env)
    assert returncode == 1, text
    assert f"[FALLA] enrutamiento: {routing}" in text
    assert "[FALLA] AMI" in text
    assert "problema(s)" in text


async def test_cli_bad_settings_file(tmp_path: Path) -> None:
    config = tmp_path / "centralita.toml"
    config.write_text("[ami]\nprot = 5038\n", "utf-8")
    returncode, text = await run_doctor("--config", str(config))
    assert returncode == 1
    assert "[FALLA] ajustes" in text
    assert "prot" in text


async def run_doctor(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """``centralita doctor ARGS`` in a subprocess: its exit code and what it printed."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "centralita.cli",
        "doctor",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, _err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode("utf-8")


async def test_the_crm_is_checked_when_configured() -> None:
    from tests.ivr.guide_server import guide_crm

    [off] = await check_directory(parse_settings("", env={}), 2)
    assert off.status == "ok" and "sin CRM" in off.message and "customers" in off.message
    async with guide_crm() as crm:
        settings = parse_settings(f'[directory]\ncrm_url = "{crm.base}"\n', env={})
        [good] = await check_directory(settings, 2)
        assert (good.status, good.area) == ("ok", "directorio"), good
        asked = list(crm.requests)
        crm.status = 503  # in maintenance
        [down] = await check_directory(settings, 2)
    assert asked and asked[0]["tipo"] == "telefonica"  # the guide was asked too
    assert down.status == "fail" and "HTTP 503" in down.message
    assert "[directory] crm_url" in down.message
    refused = parse_settings(f'[directory]\ncrm_url = "http://127.0.0.1:{free_port()}"\n', env={})
    [gone] = await check_directory(refused, 2)
    assert gone.status == "fail" and "no responde" in gone.message
