"""Daemon settings: a TOML file decoded into validated structs, plus the environment.

Secrets never live in the file: the AMI secret comes from ``$CENTRALITA_AMI_SECRET`` or
from a file named by ``ami.secret_file``; a database password from
``$CENTRALITA_DB_PASSWORD`` or ``database.password_file``; the MQTT password from
``$CENTRALITA_MQTT_PASSWORD`` or ``mqtt.password_file``. ``repr`` of the settings never
shows them. Environment overrides: ``CENTRALITA_PBX_ID``, ``CENTRALITA_DB_URL``,
``CENTRALITA_AMI_HOST``, ``CENTRALITA_AMI_PORT``, ``CENTRALITA_MQTT_HOST``.
"""

from __future__ import annotations

import os
import ssl
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import msgspec
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from centralita.mail.config import SmtpConfig


class StartupError(Exception):
    """The daemon cannot start as configured; the message (Spanish, one line) says what
    is wrong and what to do. ``centralita`` prints it without a traceback (unless --debug)
    and exits with ``exit_code``."""

    exit_code = 1


class SettingsError(StartupError):
    """The settings file or the environment is wrong; the message names where and why
    (a user's mistake: exit code 2)."""

    exit_code = 2


class _S(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    pass


class AmiSection(_S, frozen=True):
    """[ami]"""

    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "centralita"
    secret_env: str = "CENTRALITA_AMI_SECRET"  # noqa: S105 - the NAME of the variable
    secret_file: str = ""
    events: str = "call,agent,user,dialplan"
    ping_interval_s: float = 10.0
    ping_timeout_s: float = 5.0


class DatabaseSection(_S, frozen=True):
    """[database]"""

    url: str = "sqlite+aiosqlite:///centralita.db"
    password_env: str = "CENTRALITA_DB_PASSWORD"  # noqa: S105 - the NAME of the variable
    password_file: str = ""
    # "process": the event log (and the call records) are written by a child process, so
    # ingestion uses both cores; "inline": by a thread of the daemon (one process).
    event_log_writer: Literal["process", "inline"] = "process"


class MqttSection(_S, frozen=True):
    """[mqtt] — an empty host means the embedded, in-process broker.

    ``username`` empty: anonymous. The password comes from ``$CENTRALITA_MQTT_PASSWORD``
    (``password_env`` names it) or ``password_file``. ``tls``: the connection is encrypted
    and the broker's certificate checked against ``ca_file`` (empty: the system's CAs);
    ``cert_file``/``key_file``: a client certificate; ``tls_insecure``: do not check that
    the certificate names ``host`` (the chain is still checked).
    """

    host: str = ""
    port: int = 1883
    pop_max_age_s: float = 30.0
    # how long a pop waits for the customer directory before it goes without the card
    # (the lookup starts when the call joins the queue, so it is usually done by then)
    customer_wait_s: float = 0.3
    username: str = ""
    password_env: str = "CENTRALITA_MQTT_PASSWORD"  # noqa: S105 - the NAME of the variable
    password_file: str = ""
    tls: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    tls_insecure: bool = False


@dataclass(frozen=True)
class MqttLogin:
    """What an MQTT client of the daemon connects with (``repr`` hides the password)."""

    username: str | None
    password: str | None = field(default=None, repr=False)
    tls_context: ssl.SSLContext | None = None
    tls_insecure: bool = False  # the broker's certificate need not name its host


class RoutingSection(_S, frozen=True):
    """[routing] — an empty path means the shipped example."""

    path: str = ""
    watch_interval_s: float = 2.0


class IvrSection(_S, frozen=True):
    """[ivr] — host/port default to routing.toml's [ivr]."""

    enabled: bool = True
    host: str = ""
    port: int = 0


class HttpSection(_S, frozen=True):
    """[http] — console, wallboard, /metrics, /health."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8080
    users_file: str = ""  # console users (``centralita console users add``)
    session_key_env: str = "CENTRALITA_SESSION_KEY"  # signs console sessions
    session_key_file: str = ""
    secure_cookies: bool = False  # set when served behind HTTPS
    # where the generated session key is kept when none is configured ("": systemd's
    # $STATE_DIRECTORY, else the working directory)
    state_dir: str = ""


class CampaignSection(_S, frozen=True):
    """[campaign] — the prepaid reminder dialer hosted by the daemon (off by default)."""

    enabled: bool = False
    month: str = ""  # YYYY-MM; empty = every due month whose window contains today
    settings_file: str = ""  # dialer window, retries (hours: routing.toml); empty = defaults


class QueueLogSection(_S, frozen=True):
    """[queue_log] — healing from Asterisk's queue_log (centralita.healing); empty path: off."""

    path: str = ""  # the PBX's queue_log, or a mirrored copy
    interval_s: float = 60.0  # a pass every interval (and after every AMI login)
    settle_s: float = 120.0  # a call is healed once it ended in queue_log this long ago


class MailSection(_S, frozen=True):
    """[mail] — e-mails of the scripts' e-mail steps (centralita.mail); empty host: none sent.

    Messages are queued in the ``outbox`` table when an agent records an interaction and
    sent by the daemon's mail task, with retries. ``recipients`` maps the names the
    scripts use (``jefatura_sector``...) to real addresses. The SMTP password comes from
    ``$CENTRALITA_SMTP_PASSWORD`` (``password_env`` names it) or ``password_file``.
    ``starttls``: upgrade the connection with STARTTLS (the server's certificate checked
    against ``ca_file``, empty: the system's CAs); ``tls``: TLS from the first byte (port
    465). A message still not accepted after ``max_attempts`` tries is marked failed.
    """

    host: str = ""
    port: int = 587
    starttls: bool = True
    tls: bool = False
    ca_file: str = ""
    username: str = ""
    password_env: str = "CENTRALITA_SMTP_PASSWORD"  # noqa: S105 - the NAME of the variable
    password_file: str = ""
    from_address: str = ""
    recipients: dict[str, str] = msgspec.field(default_factory=dict)
    timeout_s: float = 30.0
    poll_interval_s: float = 5.0
    retry_min_s: float = 30.0
    retry_max_s: float = 3600.0
    max_attempts: int = 50


class ConsoleSection(_S, frozen=True):
    """[console] — the agent console's call controls (off by default).

    ``call_controls``: pause with a reason (AMI QueuePause, write=agent) and transfer a
    caller to another service's queue or to an internal extension (AMI Redirect,
    write=call); generate manager_custom.conf with ``centralita conf generate
    --call-controls`` so that the AMI user has those classes. ``pause_reasons``: the
    reasons an agent chooses from.
    """

    call_controls: bool = False
    pause_reasons: tuple[str, ...] = ("Almuerzo", "Baño", "Capacitación", "Gestión de caso")


class DirectorySection(_S, frozen=True):
    """[directory] — a CRM over HTTP as customer directory and telephone guides.

    ``crm_url`` empty: the customer cards of the screen-pops come from the ``customers``
    table, and so do the daemon's IVR lookups and the console's Guiatel search (104),
    while the Guía Comercial (4200224) is "not configured". Set: all come from the CRM
    (``GET {crm_url}/customers``, ``GET {crm_url}/guia``; the contract is in
    ``centralita/ivr/directory_http.py``), each request given up after ``timeout_s``
    ("directorio no disponible").
    """

    crm_url: str = ""
    timeout_s: float = 2.0

    def __post_init__(self) -> None:
        if self.crm_url and not self.crm_url.startswith(("http://", "https://")):
            raise ValueError("directory.crm_url debe empezar con http:// o https://")
        if self.timeout_s <= 0:
            raise ValueError("directory.timeout_s debe ser mayor que 0")


class Settings(_S, frozen=True):
    """The whole centralita.toml."""

    pbx_id: str = "pbx1"
    ami: AmiSection = msgspec.field(default_factory=AmiSection)
    database: DatabaseSection = msgspec.field(default_factory=DatabaseSection)
    mqtt: MqttSection = msgspec.field(default_factory=MqttSection)
    routing: RoutingSection = msgspec.field(default_factory=RoutingSection)
    ivr: IvrSection = msgspec.field(default_factory=IvrSection)
    http: HttpSection = msgspec.field(default_factory=HttpSection)
    campaign: CampaignSection = msgspec.field(default_factory=CampaignSection)
    queue_log: QueueLogSection = msgspec.field(default_factory=QueueLogSection)
    mail: MailSection = msgspec.field(default_factory=MailSection)
    console: ConsoleSection = msgspec.field(default_factory=ConsoleSection)
    directory: DirectorySection = msgspec.field(default_factory=DirectorySection)
    replay_window_s: float = 7200.0

    def ami_secret(self) -> str:
        """The AMI secret, from the file named in the config or the environment."""
        return _secret(self.ami.secret_file, self.ami.secret_env, "ami.secret_file")

    def session_key(self) -> bytes | None:
        """The console's session signing key (None: a random one per process)."""
        key = _secret(
            self.http.session_key_file, self.http.session_key_env, "http.session_key_file"
        )
        return key.encode("utf-8") if key else None

    def mqtt_login(self) -> MqttLogin:
        """Username, password and TLS context of the broker connection.

        Raises:
            SettingsError: a password, CA, certificate or key file cannot be read or used.
        """
        m = self.mqtt
        password = _secret(m.password_file, m.password_env, "mqtt.password_file")
        if password and not m.username:
            raise SettingsError("mqtt: hay contraseña pero falta mqtt.username")
        context = None
        if m.tls:
            context = _tls_context(m)
        elif m.ca_file or m.cert_file or m.key_file or m.tls_insecure:
            raise SettingsError("mqtt: ca_file/cert_file/key_file/tls_insecure requieren tls")
        return MqttLogin(
            username=m.username or None,
            password=password or None,
            tls_context=context,
            tls_insecure=context is not None and m.tls_insecure,
        )

    def mail_config(self) -> SmtpConfig:
        """The mail task's SMTP settings, the password read from the environment or file.

        Raises:
            SettingsError: a password or CA file cannot be read, or a setting is missing.
        """
        from centralita.mail.config import SmtpConfig
        from centralita.mail.exceptions import MailConfigError

        m = self.mail
        password = _secret(m.password_file, m.password_env, "mail.password_file")
        try:
            return SmtpConfig.build(
                host=m.host,
                port=m.port,
                starttls=m.starttls,
                tls=m.tls,
                ca_file=m.ca_file,
                username=m.username,
                password=password,
                from_address=m.from_address,
                recipients=m.recipients,
                timeout_s=m.timeout_s,
                poll_interval_s=m.poll_interval_s,
                retry_min_s=m.retry_min_s,
                retry_max_s=m.retry_max_s,
                max_attempts=m.max_attempts,
            )
        except MailConfigError as exc:
            raise SettingsError(str(exc)) from exc

    def database_url(self) -> str:
        """The database URL with the password filled in from the environment or file."""
        url = make_url(self.database.url)
        password = _secret(
            self.database.password_file, self.database.password_env, "database.password_file"
        )
        if password:
            url = url.set(password=password)
        return url.render_as_string(hide_password=False)

    def safe_database_url(self) -> str:
        """The database URL for logs: the password masked."""
        return make_url(self.database.url).render_as_string(hide_password=True)


def _tls_context(m: MqttSection) -> ssl.SSLContext:
    where = "mqtt.ca_file"
    try:
        context = ssl.create_default_context(cafile=m.ca_file or None)
        if m.cert_file or m.key_file:
            where = "mqtt.cert_file"
            if not m.cert_file:
                raise SettingsError("mqtt.key_file requiere mqtt.cert_file")
            context.load_cert_chain(m.cert_file, m.key_file or None)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise SettingsError(f"{where}: no se puede usar ({reason})") from exc
    if m.tls_insecure:
        context.check_hostname = False
    return context


def _secret(path: str, env: str, where: str) -> str:
    if path:
        try:
            return Path(path).read_text("utf-8").strip()
        except OSError as exc:
            raise SettingsError(f"{where}: cannot read {path!r}: {exc.strerror}") from exc
    return os.environ.get(env, "") if env else ""


_ENV: dict[str, tuple[str, ...]] = {
    "CENTRALITA_PBX_ID": ("pbx_id",),
    "CENTRALITA_DB_URL": ("database", "url"),
    "CENTRALITA_AMI_HOST": ("ami", "host"),
    "CENTRALITA_AMI_PORT": ("ami", "port"),
    "CENTRALITA_MQTT_HOST": ("mqtt", "host"),
    "CENTRALITA_ROUTING": ("routing", "path"),
}


def parse_settings(
    text: str, source: str = "<string>", env: dict[str, str] | None = None
) -> Settings:
    """Decode and validate settings; environment overrides apply on top.

    Raises:
        SettingsError: with the file, the path and the reason.
    """
    try:
        raw: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{source}: no es TOML válido ({exc}); corríjalo") from exc
    environ = os.environ if env is None else env
    for var, path in _ENV.items():
        value = environ.get(var)
        if value:
            node = raw
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = int(value) if path[-1] == "port" else value
    try:
        return msgspec.convert(raw, type=Settings)
    except msgspec.ValidationError as exc:
        raise SettingsError(f"{source}: {exc}") from exc


def load_settings(path: str | None, *, db_url: str | None = None) -> Settings:
    """Settings from a file (or defaults), the environment, then ``--db``."""
    text = ""
    source = "<defaults>"
    if path:
        try:
            text = Path(path).read_text("utf-8")
        except FileNotFoundError as exc:
            raise SettingsError(f"--config: {path} no existe; indique otro archivo") from exc
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise SettingsError(f"--config: no se puede leer {path} ({reason})") from exc
        source = path
    try:
        settings = parse_settings(text, source)
    except SettingsError:
        from centralita.metrics.commands import wrong_kind

        refusal = wrong_kind(path, text[:4096], "toml") if path else None
        if refusal:  # a CSV, a capture or a queue_log given as --config
            raise SettingsError(f"--config: {refusal}") from None
        raise
    if db_url:
        settings = msgspec.structs.replace(
            settings, database=msgspec.structs.replace(settings.database, url=db_url)
        )
    return settings
