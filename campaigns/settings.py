"""The dialer's settings file (TOML): calling hours, days off, retries, queues, Originate.

Decoded straight into validated structs with unknown fields forbidden, so a typo is an
error naming where it is (``$.retry.spacing_s.no_anwser: Object contains unknown field``).
Every field has the default of :class:`~campaigns.dialer.DialerSettings`: an empty file is
the built-in campaign. See ``campaigns/data/campaign.example.toml``.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date, time
from pathlib import Path
from typing import Any

import msgspec

from campaigns.dialer import DEFAULT_QUEUE, DialerSettings
from campaigns.exceptions import CampaignConfigError
from campaigns.scheduler import DEFAULT_SPACING_S, RetryPolicy
from campaigns.window import DEFAULT_HOURS, CallingHours

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_MSGSPEC_PATH = re.compile(r"^(?P<msg>.*) - at `(?P<path>\$[^`]*)`$", re.DOTALL)


class _Strict(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


def _hhmm(value: str) -> time:
    found = _HHMM.match(value)
    if found is None:
        raise ValueError(f"hora {value!r} invalida: se espera HH:MM (00:00 a 23:59)")
    return time(int(found[1]), int(found[2]))


class Span(_Strict, frozen=True):
    """``{ from = "08:30", until = "19:00" }``: calls from `from` (included) to `until`."""

    start: str = msgspec.field(name="from")
    until: str

    def __post_init__(self) -> None:
        if _hhmm(self.start) >= _hhmm(self.until):
            raise ValueError(f"'from' ({self.start}) debe ser anterior a 'until' ({self.until})")

    def hours(self) -> tuple[time, time]:
        """As the window module's (start, end) pair."""
        return _hhmm(self.start), _hhmm(self.until)


def _span(hours: tuple[time, time]) -> Span:
    return Span(start=hours[0].strftime("%H:%M"), until=hours[1].strftime("%H:%M"))


class Hours(_Strict, frozen=True):
    """``[hours]``: one span per weekday; a day left out has no calls."""

    mon: Span | None = None
    tue: Span | None = None
    wed: Span | None = None
    thu: Span | None = None
    fri: Span | None = None
    sat: Span | None = None
    sun: Span | None = None


DEFAULT_HOURS_FILE = Hours(**{WEEKDAYS[day]: _span(span) for day, span in DEFAULT_HOURS.items()})


class Spacing(_Strict, frozen=True):
    """``[retry.spacing_s]``: seconds after an attempt with that outcome before the next."""

    no_answer: float = DEFAULT_SPACING_S["no_answer"]
    busy: float = DEFAULT_SPACING_S["busy"]
    failed: float = DEFAULT_SPACING_S["failed"]
    unknown: float = DEFAULT_SPACING_S["unknown"]
    not_sent: float = DEFAULT_SPACING_S["not_sent"]

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
                raise ValueError(f"{name}: la cola no puede estar vacia")


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


class CampaignFile(_Strict, frozen=True):
    """The whole file."""

    days_off: tuple[date, ...] = ()
    hours: Hours = DEFAULT_HOURS_FILE
    retry: Retry = Retry()
    queues: Queues = Queues()
    originate: Originate = Originate()

    def to_settings(self) -> DialerSettings:
        """The dialer's settings."""
        hours = {
            day: span.hours()
            for day, name in enumerate(WEEKDAYS)
            if (span := getattr(self.hours, name)) is not None
        }
        spacing = {
            name: float(getattr(self.retry.spacing_s, name))
            for name in self.retry.spacing_s.__struct_fields__
        }
        spacing["answered"] = DEFAULT_SPACING_S["answered"]
        o = self.originate
        return DialerSettings(
            hours=CallingHours(hours=hours, days_off=frozenset(self.days_off)),
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
