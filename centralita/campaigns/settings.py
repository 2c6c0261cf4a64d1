"""The dialer's settings file (TOML): window, service, retries, queues, Originate.

Decoded straight into validated structs with unknown fields forbidden, so a typo is an
error naming where it is (``$.retry.spacing_s.no_anwser: Object contains unknown field``).
Every field has the default of :class:`~campaigns.dialer.DialerSettings`: an empty file is
the built-in campaign. See ``centralita/campaigns/data/campaign.example.toml``.

The calling hours and the days without calls are not here: they are routing.toml's
``[service.campaign] windows`` of the campaign's service and its ``[[holiday]]`` list. A
file that still has the former ``[hours]`` or ``days_off`` is refused, saying so.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from centralita.campaigns.dialer import DEFAULT_QUEUE, DialerSettings
from centralita.campaigns.exceptions import CampaignConfigError
from centralita.campaigns.scheduler import DEFAULT_SPACING_S, RetryPolicy
from centralita.campaigns.window import DEFAULT_SERVICE, WindowRule

_MSGSPEC_PATH = re.compile(r"^(?P<msg>.*) - at `(?P<path>\$[^`]*)`$", re.DOTALL)

MOVED_TO_ROUTING = ("hours", "days_off")
"""Keys of former files: the hours and days off now live in routing.toml."""


class _Strict(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class Spacing(_Strict, frozen=True):
    """``[retry.spacing_s]``: seconds after an attempt with that outcome before the next."""

    no_answer: float = DEFAULT_SPACING_S["no_answer"]
    busy: float = DEFAULT_SPACING_S["busy"]
    failed: float = DEFAULT_SPACING_S["failed"]
    unknown: float = DEFAULT_SPACING_S["unknown"]
    not_sent: float = DEFAULT_SPACING_S["not_sent"]
    not_connected: float = DEFAULT_SPACING_S["not_connected"]

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: no puede ser negativo")


class Retry(_Strict, frozen=True):
    """``[retry]``: attempts per customer and their spacing."""

    max_attempts: int = 3
    spacing_s: Spacing = Spacing()

    def __post_init__(self) -> None:
        if not 1 <= self.max_attempts <= 20:
            raise ValueError("max_attempts debe estar entre 1 y 20")


class Queues(_Strict, frozen=True):
    """``[queues]``: the queue whose agents take each service's answered calls."""

    tv_cable: str = DEFAULT_QUEUE
    internet: str = DEFAULT_QUEUE

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            if not getattr(self, name).strip():
                raise ValueError(f"{name}: la cola no puede estar vacía")


_DEFAULTS = DialerSettings()


class Originate(_Strict, frozen=True):
    """``[originate]``: the AMI Originate of each call (``{phone}``, ``{queue}`` expand)."""

    channel: str = _DEFAULTS.channel
    context: str = _DEFAULTS.context
    exten: str = _DEFAULTS.exten
    caller_id: str = _DEFAULTS.caller_id
    ring_timeout_s: float = _DEFAULTS.ring_timeout_s
    result_grace_s: float = _DEFAULTS.result_grace_s
    handoff_s: float = _DEFAULTS.handoff_s
    poll_s: float = _DEFAULTS.poll_s

    def __post_init__(self) -> None:
        if "{phone}" not in self.channel:
            raise ValueError("channel debe contener {phone}")
        for name in ("channel", "exten"):
            try:
                getattr(self, name).format(phone="0", queue="q")
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(f"{name}: solo admite {{phone}} y {{queue}} ({exc})") from exc
        for name in ("ring_timeout_s", "result_grace_s", "handoff_s", "poll_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: debe ser mayor que cero")


class WindowFile(_Strict, frozen=True):
    """``[window]``: the campaign's calendar window (procedure K, 5.1): from day
    `start_day` of the month `months_before` months before the due month to the due
    month's last day."""

    start_day: int = 25
    months_before: int = 1

    def __post_init__(self) -> None:
        self.rule()  # validates

    def rule(self) -> WindowRule:
        """As the window definition."""
        return WindowRule(start_day=self.start_day, months_before=self.months_before)


class CampaignFile(_Strict, frozen=True):
    """The whole file."""

    service: str = DEFAULT_SERVICE
    window: WindowFile = WindowFile()
    retry: Retry = Retry()
    queues: Queues = Queues()
    originate: Originate = Originate()

    def __post_init__(self) -> None:
        if not self.service.strip():
            raise ValueError("service: el servicio no puede estar vacío")

    def to_settings(self) -> DialerSettings:
        """The dialer's settings."""
        spacing = {
            name: float(getattr(self.retry.spacing_s, name))
            for name in self.retry.spacing_s.__struct_fields__
        }
        spacing["answered"] = DEFAULT_SPACING_S["answered"]
        o = self.originate
        return DialerSettings(
            service=self.service,
            window=self.window.rule(),
            retry=RetryPolicy(max_attempts=self.retry.max_attempts, spacing_s=spacing),
            queues={"tv_cable": self.queues.tv_cable, "internet": self.queues.internet},
            channel=o.channel,
            context=o.context,
            exten=o.exten,
            caller_id=o.caller_id,
            ring_timeout_s=o.ring_timeout_s,
            result_grace_s=o.result_grace_s,
            handoff_s=o.handoff_s,
            poll_s=o.poll_s,
        )


def _path_named(message: str) -> str:
    """msgspec's ``Expected `int`, got `str` - at `$.retry.max_attempts``, path first."""
    found = _MSGSPEC_PATH.match(message)
    if found is None:
        return f"$: {message}"
    return f"{found['path']}: {found['msg']}"


def parse_settings(text: str, source: str = "<texto>") -> DialerSettings:
    """Parse campaign settings TOML.

    Raises:
        CampaignConfigError: ``"<source>: $.path: reason"``.
    """
    try:
        raw: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CampaignConfigError(f"{source}: toml: {exc}") from exc
    moved = [("[hours]" if key == "hours" else key) for key in MOVED_TO_ROUTING if key in raw]
    if moved:
        raise CampaignConfigError(
            f"{source}: {' y '.join(moved)} ya no se configura{'n' if len(moved) > 1 else ''}"
            " aquí: el horario de llamadas"
            " y los feriados de la campaña están ahora en routing.toml"
            " ([service.campaign] windows del servicio de la campaña, [[holiday]]);"
            f" quite {' y '.join(moved)} de este archivo"
        )
    try:
        decoded = msgspec.convert(raw, CampaignFile)
    except msgspec.ValidationError as exc:
        raise CampaignConfigError(f"{source}: {_path_named(str(exc))}") from exc
    return decoded.to_settings()


def load_settings(path: str | Path) -> DialerSettings:
    """Read and validate a campaign settings file.

    Raises:
        CampaignConfigError: unreadable or invalid (the message names the file and path).
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CampaignConfigError(f"{source}: no se puede leer ({exc})") from exc
    return parse_settings(text, source)


def example_path() -> Path:
    """The shipped example file."""
    return Path(__file__).parent / "data" / "campaign.example.toml"
