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

from centralita.ami_listener.protocol import AmiMessage, AmiParser, Banner, encode_action
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
        found += await _write_permissions(session, settings, timeout_s)
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


def needed_write_classes(settings: Settings) -> frozenset[str]:
    """The AMI write classes the enabled features need: reporting for ``Status`` (the
    resync), originate for the campaign's dialer (as ``centralita conf generate`` writes)."""
    return frozenset(
        {"reporting"}
        | ({"originate"} if settings.campaign.enabled else set())
        | ({"call", "agent"} if settings.console.call_controls else set())  # Redirect, QueuePause
    )


async def _write_permissions(
    session: _AmiSession, settings: Settings, timeout_s: float
) -> list[Finding]:
    """``ListCommands`` lists the actions this user may run, each with its classes
    (``Originate: Originate a call. (Priv: originate,all)``): the user can run an action
    when it holds one of them. Warn about actions of classes no enabled feature needs."""
    reply = await session.action(timeout_s, ("Action", "ListCommands"))
    if reply.get("Response") != "Success":
        said = reply.get("Message") or reply.get("Response")
        return [
            Finding(
                "AMI",
                "warn",
                f"no se pudieron comprobar los permisos de escritura (ListCommands: «{said}»)",
            )
        ]
    allowed: dict[str, frozenset[str]] = {}
    for name, value in reply.headers.items():
        _synopsis, sep, priv = value.rpartition("(Priv: ")
        if sep and priv.endswith(")"):
            allowed[name] = frozenset(priv[:-1].split(",")) - {"all", "<none>", "none"}
    needed = needed_write_classes(settings)
    ami = settings.ami.username
    found: list[Finding] = []
    if "Status" not in allowed:
        found.append(
            Finding(
                "AMI",
                "fail",
                f"el usuario {ami!r} no puede pedir Status: la resincronización tras un corte"
                " no ve los canales; agregue write=reporting (centralita conf generate)",
            )
        )
    if settings.campaign.enabled and "Originate" not in allowed:
        found.append(
            Finding(
                "AMI",
                "fail",
                f"[campaign] está activa pero el usuario {ami!r} no puede hacer Originate:"
                " agregue write=originate (centralita conf generate --campaign)",
            )
        )
    extra = sorted(name for name, classes in allowed.items() if classes and not classes & needed)
    if extra:
        unneeded = sorted(set().union(*(allowed[name] for name in extra)) - needed)
        shown = ", ".join(extra[:6]) + (f" y {len(extra) - 6} más" if len(extra) > 6 else "")
        hint = (
            " (la campaña está desactivada)"
            if "originate" in unneeded and not settings.campaign.enabled
            else ""
        )
        found.append(
            Finding(
                "AMI",
                "warn",
                f"el usuario {ami!r} tiene permisos de escritura que centralita no necesita"
                f"{hint}: puede ejecutar {shown}; deje write={','.join(sorted(needed))}"
                f" en manager_custom.conf (clases de más: {', '.join(unneeded)})",
            )
        )
    if not found:
        found.append(
            Finding("AMI", "ok", f"permisos de escritura justos: {','.join(sorted(needed))}")
        )
    return found


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
    """Connect to the MQTT broker when one is configured, as the daemon does (username,
    password, TLS); warn when that is anonymous or unencrypted."""
    mqtt = settings.mqtt
    if not mqtt.host:
        return [
            Finding("broker", "ok", "sin broker externo: ventanas emergentes por el bus interno")
        ]
    import ssl

    import aiomqtt

    where = f"{mqtt.host}:{mqtt.port}"
    try:
        login = settings.mqtt_login()
    except SettingsError as exc:
        return [Finding("broker", "fail", str(exc))]
    try:
        async with (
            asyncio.timeout(timeout_s),
            aiomqtt.Client(
                mqtt.host,
                mqtt.port,
                identifier=f"centralita-doctor-{settings.pbx_id}",
                username=login.username,
                password=login.password,
                tls_context=login.tls_context,
                tls_insecure=login.tls_insecure if login.tls_context is not None else None,
                timeout=timeout_s,
            ),
        ):
            pass
    except TimeoutError:
        return [Finding("broker", "fail", f"el broker MQTT en {where} no responde")]
    except aiomqtt.MqttCodeError as exc:
        code = exc.rc if isinstance(exc.rc, int) else getattr(exc.rc, "value", None)
        if code in _MQTT_REFUSED_LOGIN:
            who = f"el usuario {login.username!r}" if login.username else "una conexión anónima"
            return [
                Finding(
                    "broker",
                    "fail",
                    f"el broker MQTT en {where} rechazó {who} ({exc}): revise mqtt.username y"
                    f" la contraseña (${mqtt.password_env} o mqtt.password_file)",
                )
            ]
        return [Finding("broker", "fail", f"el broker MQTT en {where} rechazó la conexión: {exc}")]
    except (aiomqtt.MqttError, OSError) as exc:
        if isinstance(exc, ssl.SSLError) or "SSL" in str(exc) or "certificate" in str(exc):
            return [
                Finding(
                    "broker",
                    "fail",
                    f"TLS con el broker MQTT en {where} falló ({exc}): revise mqtt.ca_file,"
                    " el nombre del certificado del broker (host) y mqtt.cert_file/key_file",
                )
            ]
        return [Finding("broker", "fail", f"no se puede conectar al broker MQTT en {where}: {exc}")]
    who = f"usuario {login.username!r}" if login.username else "anónimo"
    how = "TLS" if login.tls_context is not None else "sin cifrar"
    found = [Finding("broker", "ok", f"broker MQTT en {where} acepta conexiones ({who}, {how})")]
    if (login.username is None or login.tls_context is None) and not _loopback(mqtt.host):
        missing = []
        if login.username is None:
            missing.append("usuario y contraseña (mqtt.username, mqtt.password_file)")
        if login.tls_context is None:
            missing.append("cifrado (mqtt.tls = true, mqtt.ca_file)")
        found.append(
            Finding(
                "broker",
                "warn",
                f"el broker acepta a este cliente sin {' ni '.join(missing)}: cualquiera en la"
                " red podría leer o publicar ventanas emergentes",
            )
        )
    return found


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# CONNACK refusals for a bad login: MQTT 3.1.1 codes 4 and 5, MQTT 5 codes 134 and 135.
_MQTT_REFUSED_LOGIN = frozenset({4, 5, 134, 135})


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

    from centralita.ami_listener.store import make_engine
    from centralita.db import DatabaseError, alembic_config, check_database_url

    safe = settings.safe_database_url()
    try:
        url = settings.database_url()
        check_database_url(url)
    except (SettingsError, DatabaseError) as exc:
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
    from centralita.routing import RoutingError, default_routing_path, load_routing

    path = settings.routing.path or str(default_routing_path())
    try:
        table = load_routing(path)
    except RoutingError as exc:
        errors: list[str] = getattr(exc, "errors", None) or [str(exc)]
        return [Finding("enrutamiento", "fail", f"{path}: {e}") for e in errors]
    services = len(table.config.service)
    return [Finding("enrutamiento", "ok", f"{path}: válido, {services} servicios")]


def check_session_key(settings: Settings) -> list[Finding]:
    """Which key signs the console's sessions, and whether it survives a restart."""
    import os

    from centralita.wiring import console_session_key

    if not settings.http.enabled:
        return []
    area = "sesiones de consola"
    try:
        found = console_session_key(settings, create=False)
    except SettingsError as exc:
        return [Finding(area, "fail", f"{exc}")]
    if found.source == "random":
        msg = (
            f"ninguna clave se puede conservar ({found.detail}): cada reinicio cierra todas"
            f" las consolas; defina ${settings.http.session_key_env} o http.session_key_file,"
            " o permita escribir en el directorio de estado"
        )
        return [Finding(area, "warn", msg)]
    if found.source == "env":
        return [Finding(area, "ok", f"clave de la variable ${found.detail}")]
    label = "http.session_key_file" if found.source == "file" else "clave generada"
    path = found.detail.split(" (", 1)[0]
    with contextlib.suppress(OSError):
        if os.stat(path).st_mode & 0o077:
            msg = f"{label} {path} es legible por otros: ejecute chmod 600 {path}"
            return [Finding(area, "warn", msg)]
    return [Finding(area, "ok", f"{label}: {found.detail}")]


async def check_directory(settings: Settings, timeout_s: float) -> list[Finding]:
    """``[directory] crm_url``: the CRM answers the two requests of its contract
    (``centralita/ivr/directory_http.py``); without it, say where customers come from."""
    from centralita.ivr.directory_http import HttpCustomerDirectory
    from centralita.ivr.events import InputKind
    from centralita.ivr.exceptions import DirectoryUnavailableError

    area = "directorio"
    url = settings.directory.crm_url
    if not url:
        return [
            Finding(
                area,
                "ok",
                "sin CRM: fichas de clientes, IVR y Guiatel desde la tabla customers"
                " (centralita customers import)",
            )
        ]
    directory = HttpCustomerDirectory(url, timeout_s=min(timeout_s, settings.directory.timeout_s))
    try:
        # a number no customer has: the CRM answers 404 (or a customer): it is there
        await directory.lookup(InputKind.PHONE, "0000000")
        await directory.search("telefonica", "centralita doctor", 1)
    except DirectoryUnavailableError as exc:
        return [
            Finding(
                area,
                "fail",
                f"el CRM en {url} no responde como se espera ({exc}): las ventanas emergentes"
                " no tendrán ficha, el IVR enviará a la cola sin cliente y las guías dirán"
                " «directorio no disponible»; revise [directory] crm_url",
            )
        ]
    finally:
        await directory.close()
    return [Finding(area, "ok", f"CRM en {url}: responde a /customers y /guia")]


async def diagnose(
    settings: Settings, *, timeout_s: float = 5.0, events_s: float = 5.0
) -> list[Finding]:
    """Every check, in the order an admin fixes things."""
    from centralita.healing import check_queue_log

    found = check_routing(settings)
    found += check_session_key(settings)
    found += await check_database(settings, timeout_s)
    found += check_queue_log(settings)
    found += await check_directory(settings, timeout_s)
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
    from centralita.metrics.commands import add_db_option

    p = subparsers.add_parser(
        "doctor", help="revisar AMI, broker MQTT, base de datos y enrutamiento"
    )
    p.add_argument(
        "--config", metavar="FILE", help="centralita.toml (por omisión: valores incorporados)"
    )
    add_db_option(p, config=True)
    p.add_argument(
        "--timeout", type=float, default=5.0, help="segundos por revisión (por omisión 5)"
    )
    p.add_argument(
        "--events-wait",
        type=float,
        default=5.0,
        help="segundos de espera de eventos AMI (por omisión 5)",
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
