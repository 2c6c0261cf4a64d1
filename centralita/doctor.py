"""`centralita doctor`: check what the daemon needs and say what is wrong in plain words.

Checks, with the daemon's own settings: the AMI (reachable, a real AMI, login accepted,
QueueStatus answered, the event classes the tracker needs arriving), the MQTT broker, the
database (reachable, schema at the newest revision) and the routing file. Exits 1 when
anything fails; warnings (an idle PBX, no queues yet) keep exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ami_listener.protocol import AmiMessage, AmiParser, Banner, encode_action
from centralita.settings import Settings, SettingsError, load_settings

Status = Literal["ok", "warn", "fail"]
NEEDED_CLASSES = ("call", "agent", "dialplan", "user")
_MARK = {"ok": "[ ok ]", "warn": "[aviso]", "fail": "[FALLA]"}


@dataclass(frozen=True)
class Finding:
    """One line of the diagnosis."""

    area: str
    status: Status
    message: str


class _AmiEndError(Exception):
    """The AMI closed the connection or stopped answering."""


class _AmiSession:
    """A bare AMI connection: enough to log in, send actions and watch events."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.parser = AmiParser()
        self.pending: list[AmiMessage | Banner] = []
        self.classes: set[str] = set()

    async def next(self, timeout_s: float) -> AmiMessage | Banner:
        while not self.pending:
            try:
                data = await asyncio.wait_for(self.reader.read(65536), timeout_s)
            except TimeoutError as exc:
                raise _AmiEndError("timeout") from exc
            if not data:
                raise _AmiEndError("closed")
            for item in self.parser.feed(data):
                if isinstance(item, AmiMessage | Banner):
                    self.pending.append(item)
        item = self.pending.pop(0)
        if isinstance(item, AmiMessage) and item.is_event and not item.action_id:
            self.classes.add(item.get("Privilege").split(",", 1)[0])
        return item

    async def action(self, timeout_s: float, *fields: tuple[str, str]) -> AmiMessage:
        """Send an action and return its response (events read meanwhile are noted)."""
        action_id = f"doctor-{fields[0][1].lower()}"
        self.writer.write(encode_action([*fields, ("ActionID", action_id)]))
        await self.writer.drain()
        while True:
            item = await self.next(timeout_s)
            if (
                isinstance(item, AmiMessage)
                and not item.is_event
                and item.action_id in (action_id, "")
            ):
                return item

    async def watch(self, window_s: float) -> None:
        """Read events for ``window_s`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + window_s
        with contextlib.suppress(_AmiEndError):
            while (left := deadline - loop.time()) > 0:
                await self.next(left)


async def check_ami(settings: Settings, timeout_s: float, events_s: float) -> list[Finding]:
    """Reach the AMI, log in as the daemon does, ask QueueStatus, watch the events."""
    ami = settings.ami
    where = f"{ami.host}:{ami.port}"
    try:
        secret = settings.ami_secret()
    except SettingsError as exc:
        return [Finding("AMI", "fail", f"no se puede leer el secreto: {exc}")]
    if not secret:
        return [
            Finding(
                "AMI",
                "fail",
                f"no hay secreto del AMI: defina ${ami.secret_env} o ami.secret_file",
            )
        ]
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(ami.host, ami.port), timeout_s
        )
    except TimeoutError:
        return [Finding("AMI", "fail", f"{where} no responde en {timeout_s:g} s (¿cortafuegos?)")]
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return [
            Finding(
                "AMI",
                "fail",
                f"no se puede conectar a {where} ({reason}): ¿Asterisk está en marcha y el AMI"
                " habilitado (enabled=yes, port, bindaddr en manager.conf)?",
            )
        ]
    session = _AmiSession(reader, writer)
    try:
        return await _ami_dialogue(session, settings, secret, timeout_s, events_s)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _ami_dialogue(
    session: _AmiSession, settings: Settings, secret: str, timeout_s: float, events_s: float
) -> list[Finding]:
    ami = settings.ami
    where = f"{ami.host}:{ami.port}"
    try:
        banner = await session.next(timeout_s)
    except _AmiEndError:
        banner = None
    if not isinstance(banner, Banner):
        return [Finding("AMI", "fail", f"{where} no es un AMI de Asterisk (no saludó)")]
    version = banner.version + (" — Asterisk 11" if banner.version.startswith("1.") else "")
    try:
        reply = await session.action(
            timeout_s,
            ("Action", "Login"),
            ("Username", ami.username),
            ("Secret", secret),
            ("Events", ami.events),
        )
    except _AmiEndError:
        return [Finding("AMI", "fail", f"{where} cerró la conexión en el login (¿permit/deny?)")]
    if reply.get("Response") != "Success":
        said = reply.get("Message") or reply.get("Response")
        return [
            Finding(
                "AMI",
                "fail",
                f"login rechazado: el usuario {ami.username!r} o su secreto no son válidos"
                f" (Asterisk: «{said}»). Revise [{ami.username}] en manager_custom.conf,"
                " su permit= y el secreto",
            )
        ]
    found = [
        Finding("AMI", "ok", f"{where} (AMI {version}), sesión iniciada como {ami.username!r}")
    ]
    try:
        found.append(await _queue_status(session, timeout_s))
        await session.watch(events_s)
        with contextlib.suppress(OSError):
            session.writer.write(encode_action([("Action", "Logoff")]))
    except _AmiEndError:
        found.append(Finding("AMI", "fail", "Asterisk dejó de responder tras el login"))
        return found
    found.append(_events_finding(session.classes, ami.events, events_s))
    return found


async def _queue_status(session: _AmiSession, timeout_s: float) -> Finding:
    reply = await session.action(timeout_s, ("Action", "QueueStatus"))
    if reply.get("Response") != "Success":
        said = reply.get("Message")
        return Finding("AMI", "fail", f"QueueStatus rechazado (Asterisk: «{said}»)")
    queues: set[str] = set()
    members: set[str] = set()
    while True:
        item = await session.next(timeout_s)
        if not isinstance(item, AmiMessage) or item.action_id != "doctor-queuestatus":
            continue
        if item.name == "QueueParams":
            queues.add(item.get("Queue"))
        elif item.name == "QueueMember":
            members.add(item.get("StateInterface") or item.get("Location") or item.get("Name"))
        elif item.name == "QueueStatusComplete":
            break
    if not queues:
        return Finding("AMI", "warn", "Asterisk no tiene colas: ¿se incluyó queues_custom.conf?")
    return Finding("AMI", "ok", f"QueueStatus: {len(queues)} colas, {len(members)} agentes")


def _events_finding(seen: set[str], events: str, window_s: float) -> Finding:
    wanted = [c for c in NEEDED_CLASSES if c in events.split(",")]
    missing_in_config = [c for c in NEEDED_CLASSES if c not in wanted]
    if missing_in_config:
        return Finding(
            "AMI",
            "fail",
            f"ami.events no pide {', '.join(missing_in_config)}: el seguimiento de llamadas"
            f" necesita {','.join(NEEDED_CLASSES)}",
        )
    got = [c for c in wanted if c in seen]
    if not got:
        return Finding(
            "AMI",
            "warn",
            f"en {window_s:g} s no llegó ningún evento de llamadas: normal si la central está"
            " sin tráfico; si hay llamadas, al usuario le falta read=call,agent,dialplan,user",
        )
    pending = [c for c in wanted if c not in seen]
    rest = f" (aún no: {', '.join(pending)})" if pending else ""
    return Finding("AMI", "ok", f"llegan eventos de {', '.join(got)}{rest}")


async def check_broker(settings: Settings, timeout_s: float) -> list[Finding]:
    """Connect to the MQTT broker when one is configured."""
    mqtt = settings.mqtt
    if not mqtt.host:
        return [
            Finding("broker", "ok", "sin broker externo: ventanas emergentes por el bus interno")
        ]
    import aiomqtt

    where = f"{mqtt.host}:{mqtt.port}"
    try:
        async with (
            asyncio.timeout(timeout_s),
            aiomqtt.Client(
                mqtt.host,
                mqtt.port,
                identifier=f"centralita-doctor-{settings.pbx_id}",
                timeout=timeout_s,
            ),
        ):
            pass
    except TimeoutError:
        return [Finding("broker", "fail", f"el broker MQTT en {where} no responde")]
    except (aiomqtt.MqttError, OSError) as exc:
        return [Finding("broker", "fail", f"no se puede conectar al broker MQTT en {where}: {exc}")]
    return [Finding("broker", "ok", f"broker MQTT en {where} acepta conexiones")]


def _db_reason(exc: BaseException) -> str:
    text = str(exc.__cause__ or exc).strip().splitlines()[0] if str(exc) else type(exc).__name__
    lowered = text.lower()
    if "password authentication failed" in lowered:
        return f"usuario o contraseña rechazados ({text})"
    if "does not exist" in lowered:
        return f"la base de datos o el usuario no existe ({text})"
    if "connection refused" in lowered or "connect call failed" in lowered:
        return f"el servidor no acepta conexiones: ¿está en marcha? ¿host y puerto? ({text})"
    if "does not allow connections" in lowered:
        return f"la base de datos no admite conexiones ahora ({text})"
    return text


async def check_database(settings: Settings, timeout_s: float) -> list[Finding]:
    """Connect and compare the schema revision with the newest migration."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from ami_listener.store import make_engine
    from centralita.db import alembic_config

    safe = settings.safe_database_url()
    try:
        url = settings.database_url()
    except SettingsError as exc:
        return [Finding("base de datos", "fail", str(exc))]
    parsed = make_url(url)
    db_file = parsed.database or ""
    is_file = parsed.get_backend_name() == "sqlite" and db_file not in ("", ":memory:")
    # Opening a missing SQLite file would create an empty one: say so instead.
    if is_file and not await asyncio.to_thread(Path(db_file).exists):
        return [
            Finding(
                "base de datos",
                "fail",
                f"{parsed.database} no existe: ejecute `centralita db-migrate`",
            )
        ]
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    engine = make_engine(url)
    try:
        async with asyncio.timeout(timeout_s), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            current = await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    except TimeoutError:
        return [Finding("base de datos", "fail", f"{safe} no responde en {timeout_s:g} s")]
    except Exception as exc:  # any driver error becomes a plain sentence
        return [Finding("base de datos", "fail", f"{safe}: {_db_reason(exc)}")]
    finally:
        await engine.dispose()
    if current is None:
        msg = f"{safe} no tiene el esquema: ejecute `centralita db-migrate`"
        return [Finding("base de datos", "fail", msg)]
    if current != head:
        msg = f"{safe} está en la revisión {current}, este programa espera {head}:"
        return [Finding("base de datos", "fail", msg + " ejecute `centralita db-migrate`")]
    return [Finding("base de datos", "ok", f"{safe}, esquema al día ({current})")]


def check_routing(settings: Settings) -> list[Finding]:
    """Load and validate the routing file the daemon would use."""
    from routing import RoutingError, default_routing_path, load_routing

    path = settings.routing.path or str(default_routing_path())
    try:
        table = load_routing(path)
    except RoutingError as exc:
        errors: list[str] = getattr(exc, "errors", None) or [str(exc)]
        return [Finding("enrutamiento", "fail", f"{path}: {e}") for e in errors]
    services = len(table.config.service)
    return [Finding("enrutamiento", "ok", f"{path}: válido, {services} servicios")]


async def diagnose(
    settings: Settings, *, timeout_s: float = 5.0, events_s: float = 5.0
) -> list[Finding]:
    """Every check, in the order an admin fixes things."""
    found = check_routing(settings)
    found += await check_database(settings, timeout_s)
    found += await check_broker(settings, timeout_s)
    found += await check_ami(settings, timeout_s, events_s)
    return found


def render(findings: list[Finding], pbx_id: str) -> str:
    """The report: one line per finding and a verdict."""
    lines = [f"centralita doctor — pbx {pbx_id}"]
    lines += [f"  {_MARK[f.status]} {f.area}: {f.message}" for f in findings]
    failures = sum(f.status == "fail" for f in findings)
    lines.append(
        "todo en orden" if not failures else f"{failures} problema(s): corríjalos y repita"
    )
    return "\n".join(lines) + "\n"


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `centralita doctor`."""
    p = subparsers.add_parser("doctor", help="check AMI, broker, database and routing")
    p.add_argument("--config", metavar="FILE", help="centralita.toml (default: built-in)")
    p.add_argument("--db", metavar="URL", help="database URL (overrides the config)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per check (default 5)")
    p.add_argument(
        "--events-wait", type=float, default=5.0, help="seconds to watch AMI events (default 5)"
    )
    p.set_defaults(func=_cmd_doctor)


def _cmd_doctor(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config, db_url=args.db)
    except SettingsError as exc:
        sys.stdout.write(f"centralita doctor\n  {_MARK['fail']} ajustes: {exc}\n")
        return 1
    findings = asyncio.run(diagnose(settings, timeout_s=args.timeout, events_s=args.events_wait))
    sys.stdout.write(render(findings, settings.pbx_id))
    return 1 if any(f.status == "fail" for f in findings) else 0
