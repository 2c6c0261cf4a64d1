"""The routing file's schema: frozen structs decoded from TOML, unknown keys forbidden.

These structs are what `tomllib` + `msgspec.convert` produce; they are checked for
type errors only. Cross-references, windows and duplicates are checked afterwards by
`routing.validate`, and the checked result is wrapped in a `routing.table.RoutingTable`.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun", "holiday"]
QueueStrategy = Literal[
    "ringall", "leastrecent", "fewestcalls", "random", "rrmemory", "linear", "wrandom"
]
AsteriskVersion = Literal["11", "13", "16", "18", "20", "22"]
Direction = Literal["inbound", "outbound"]
DestinationKind = Literal["queue", "number", "announcement"]


class _Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of every config struct: immutable, unknown keys are errors."""


class PbxSettings(_Config, frozen=True):
    """`[pbx]`: the Asterisk the generated config is for."""

    asterisk: AsteriskVersion = "11"
    inbound_context: str = "from-pstn-custom"
    outbound_context: str = "from-internal"
    campaign_context: str = "centralita-campaign"
    language: str = "es"
    ami_user: str = "centralita"
    ami_permit: str = "127.0.0.1/255.255.255.255"
    ami_secret_include: str = "manager_centralita_secret.conf"  # noqa: S105 - a file name, not a secret
    dial_timeout_s: int = 60


class IvrSettings(_Config, frozen=True):
    """`[ivr]`: where the FastAGI server listens."""

    agi_host: str = "127.0.0.1"
    agi_port: int = 4573
    agi_path: str = "ivr"


class IndicatorSettings(_Config, frozen=True):
    """`[indicator]`: the regulator's (ATT) indicator: answered within `threshold_s`
    (inclusive) over registered calls, at least `target_percent` every month. The report,
    the wallboard and every export read it (with `measured` of each service)."""

    threshold_s: int = 20
    target_percent: float = 80.0


class Holiday(_Config, frozen=True):
    """`[[holiday]]`: one date on which `holiday` windows apply."""

    date: dt.date
    name: str


class Announcement(_Config, frozen=True):
    """`[[announcement]]`: a recorded message (Asterisk sound name) and its text."""

    name: str
    sound: str
    text: str


class Queue(_Config, frozen=True):
    """`[[queue]]`: one Asterisk queue."""

    name: str
    strategy: QueueStrategy = "rrmemory"
    ring_timeout_s: int = 15
    retry_s: int = 2
    wrapup_s: int = 0
    max_wait_s: int | None = None
    """Longest wait before the overflow (None: no limit, the procedure sets none)."""
    servicelevel_s: int = 20
    weight: int = 0
    musicclass: str = "default"


class ToQueue(_Config, frozen=True, tag_field="kind", tag="queue"):
    """Send the call to a queue."""

    queue: str


class ToNumber(_Config, frozen=True, tag_field="kind", tag="number"):
    """Transfer the call to a number (dialed through `pbx.outbound_context`)."""

    number: str
    label: str = ""


class ToAnnouncement(_Config, frozen=True, tag_field="kind", tag="announcement"):
    """Play an announcement and hang up."""

    announcement: str


Destination = ToQueue | ToNumber | ToAnnouncement


class Window(_Config, frozen=True):
    """A weekly time window: the listed days, from `from` (inclusive) to `until` (exclusive)."""

    days: tuple[Weekday, ...]
    start: str = msgspec.field(default="00:00", name="from")
    until: str = "24:00"


class Rule(_Config, frozen=True):
    """`[[service.rule]]`: what changes while one of `windows` is current."""

    name: str
    windows: tuple[Window, ...]
    topic: str | None = None
    destination: Destination | None = None
    announcement: str | None = None
    ivr_flow: str | None = None
    reason: str = ""


class Priority(_Config, frozen=True):
    """`[service.priority]`: queue priority (higher is served first) per customer segment."""

    default: int = 0
    by_segment: dict[str, int] = msgspec.field(default_factory=dict)


class Campaign(_Config, frozen=True):
    """`[service.campaign]`: the hours of the week an outbound service may call, the one
    definition of the campaign dialer's calling hours (several windows a day allowed; on a
    `[[holiday]]` only the windows listing `holiday`). The days of the month (procedure K
    5.1) are the campaign's `[window]` (campaign settings), the one definition the dialer,
    routing and report use."""

    windows: tuple[Window, ...]


class Service(_Config, frozen=True):
    """`[[service]]`: one service of the call center."""

    key: str
    name: str
    queue: str
    script: str
    numbers: tuple[str, ...] = ()
    direction: Direction = "inbound"
    measured: bool = False
    ivr_flow: str | None = None
    topics: tuple[str, ...] = ()
    overflow: Destination | None = None
    priority: Priority = msgspec.field(default_factory=Priority)
    rule: tuple[Rule, ...] = ()
    caller_id: str | None = None
    campaign: Campaign | None = None


class RoutingConfig(_Config, frozen=True):
    """The whole file."""

    version: Literal[1]
    timezone: str = "America/La_Paz"
    segments: tuple[str, ...] = ()
    pbx: PbxSettings = msgspec.field(default_factory=PbxSettings)
    ivr: IvrSettings = msgspec.field(default_factory=IvrSettings)
    indicator: IndicatorSettings = msgspec.field(default_factory=IndicatorSettings)
    holiday: tuple[Holiday, ...] = ()
    announcement: tuple[Announcement, ...] = ()
    queue: tuple[Queue, ...] = ()
    service: tuple[Service, ...] = ()
