"""Daemon settings: a TOML file decoded into validated structs, plus the environment.

Secrets never live in the file: the AMI secret comes from ``$CENTRALITA_AMI_SECRET`` or
from a file named by ``ami.secret_file``; a database password from
``$CENTRALITA_DB_PASSWORD`` or ``database.password_file``. ``repr`` of the settings never
shows them. Environment overrides: ``CENTRALITA_PBX_ID``, ``CENTRALITA_DB_URL``,
``CENTRALITA_AMI_HOST``, ``CENTRALITA_AMI_PORT``, ``CENTRALITA_MQTT_HOST``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

import msgspec
from sqlalchemy.engine import make_url


class SettingsError(Exception):
    """The settings file or the environment is wrong; the message names where and why."""


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
    """[mqtt] — an empty host means the embedded, in-process broker."""

    host: str = ""
    port: int = 1883
    pop_max_age_s: float = 30.0


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


class CampaignSection(_S, frozen=True):
    """[campaign] — the prepaid reminder dialer hosted by the daemon (off by default)."""

    enabled: bool = False
    month: str = ""  # YYYY-MM; empty = the current month in America/La_Paz
    settings_file: str = ""  # dialer hours, days off, retries; empty = built-in defaults


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
        raise SettingsError(f"{source}: {exc}") from exc
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
        except OSError as exc:
            raise SettingsError(f"{path}: {exc.strerror}") from exc
        source = path
    settings = parse_settings(text, source)
    if db_url:
        settings = msgspec.structs.replace(
            settings, database=msgspec.structs.replace(settings.database, url=db_url)
        )
    return settings
