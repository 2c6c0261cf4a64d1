"""When a prepaid campaign may call (pure).

A campaign is named by the month the prepaid services expire (``YYYY-MM``). Its calendar
window comes from the one definition, :class:`centralita.routing.campaign.WindowRule`
(procedure K: from the 25th of the month before to the due month's last day; configurable
in the campaign settings' ``[window]``), local time America/La_Paz. Inside that window a
call may only be placed during the calling hours, which are routing.toml's, the one
definition: the ``[service.campaign] windows`` of the campaign's outbound service
(several per day allowed) and its ``[[holiday]]`` dates, on which only the windows
listing ``holiday`` apply (none: no calls) — exactly what
:func:`centralita.routing.in_calling_window` says. :func:`calling_hours` builds them from
a :class:`~centralita.routing.RoutingTable`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Final
from zoneinfo import ZoneInfo

from centralita.campaigns.exceptions import CampaignConfigError
from centralita.routing.campaign import DEFAULT_WINDOW_RULE, WindowRule, parse_month
from centralita.routing.table import RoutingTable
from centralita.routing.windows import HOLIDAY, Interval, contains, intervals_of

__all__ = ["DEFAULT_WINDOW_RULE", "HOLIDAY", "Interval", "WindowRule", "parse_month"]

LA_PAZ: Final = ZoneInfo("America/La_Paz")

DEFAULT_SERVICE: Final = "prepago"
"""routing.toml's outbound service whose ``[service.campaign] windows`` are the hours."""


def month_of(day: date) -> str:
    """The ``YYYY-MM`` of a date."""
    return f"{day.year:04d}-{day.month:02d}"


@dataclass(frozen=True, slots=True)
class Window:
    """The calendar days (inclusive) on which a campaign calls."""

    first_day: date
    last_day: date

    def contains(self, day: date) -> bool:
        """True when `day` is inside the window."""
        return self.first_day <= day <= self.last_day

    @property
    def start(self) -> datetime:
        """First instant of the window (La Paz)."""
        return datetime.combine(self.first_day, time(0, 0), LA_PAZ)

    @property
    def end(self) -> datetime:
        """First instant after the window (La Paz)."""
        return datetime.combine(self.last_day + timedelta(days=1), time(0, 0), LA_PAZ)


def campaign_window(month: str, rule: WindowRule = DEFAULT_WINDOW_RULE) -> Window:
    """The window of the campaign for services expiring in `month`."""
    first, last = rule.days(month)
    return Window(first, last)


def due_months(moment: datetime, rule: WindowRule = DEFAULT_WINDOW_RULE) -> list[str]:
    """The due months whose campaign window contains `moment`'s La Paz day, earliest first
    (from 25 November: November's and December's; from 1 December: December's)."""
    return rule.due_months(to_local(moment).date())


@dataclass(frozen=True, slots=True)
class CallingHours:
    """Calling hours as routing.toml defines them (build them with :func:`calling_hours`).

    `intervals`: minutes ``[start, end)`` of a day (0-6 Monday-Sunday, 7 = holiday; several
    per day allowed, ``end`` 1440 is midnight). On a date in `holidays` only the day-7
    intervals apply (none: no calls); any other date has its weekday's. Times of day are
    judged in `tz` (routing.toml's ``timezone``). The default has no hours at all.
    """

    intervals: tuple[Interval, ...] = ()
    holidays: frozenset[date] = frozenset()
    tz: tzinfo = LA_PAZ

    def day_key(self, day: date) -> int:
        """The day whose intervals apply on `day`: 7 on a holiday, else its weekday."""
        return HOLIDAY if day in self.holidays else day.weekday()

    def spans(self, day: date) -> list[tuple[datetime, datetime]]:
        """The calling spans of `day` as aware datetimes ``[opens, closes)``, by opening."""
        key = self.day_key(day)
        midnight = datetime.combine(day, time(0, 0), self.tz)
        return [
            (midnight + timedelta(minutes=iv.start), midnight + timedelta(minutes=iv.end))
            for iv in sorted(self.intervals, key=lambda iv: (iv.start, iv.end))
            if iv.day == key
        ]

    def allows(self, moment: datetime) -> bool:
        """True when a call may be placed at `moment` (aware; judged in `tz`)."""
        local = moment.astimezone(self.tz)
        minute = local.hour * 60 + local.minute
        return contains(self.intervals, self.day_key(local.date()), minute)


def calling_hours(table: RoutingTable, service: str = DEFAULT_SERVICE) -> CallingHours:
    """The calling hours of `service` in `table`: its ``[service.campaign] windows``, the
    table's ``[[holiday]]`` dates and ``timezone``.

    Raises:
        CampaignConfigError: no such service, or it has no ``[service.campaign]``.
    """
    try:
        found = table.service(service)
    except KeyError:
        raise CampaignConfigError(
            f"{table.source}: no hay un servicio «{service}»: la campaña toma su horario de"
            " llamadas de [service.campaign] windows de ese servicio"
        ) from None
    if found.campaign is None:
        raise CampaignConfigError(
            f"{table.source}: el servicio «{service}» no tiene [service.campaign] windows:"
            " la campaña no tendría horario de llamadas"
        )
    return CallingHours(
        intervals=intervals_of(found.campaign.windows),
        holidays=frozenset(table.holidays),
        tz=table.timezone,
    )


def to_local(moment: datetime) -> datetime:
    """An aware datetime in La Paz time; naive datetimes are rejected."""
    if moment.tzinfo is None:
        raise ValueError("se requiere una fecha y hora con zona horaria")
    return moment.astimezone(LA_PAZ)


def may_call(moment: datetime, window: Window, hours: CallingHours) -> bool:
    """True when the campaign may place a call at `moment` (the window's days and the
    hours are judged in the hours' timezone, as :func:`routing.in_calling_window` does)."""
    local = to_local(moment).astimezone(hours.tz)
    return window.contains(local.date()) and hours.allows(local)


def next_opening(moment: datetime, window: Window, hours: CallingHours) -> datetime | None:
    """The first instant at or after `moment` when a call may be placed; None if the window
    has no calling time left."""
    local = to_local(moment).astimezone(hours.tz)
    local = max(local, datetime.combine(window.first_day, time(0, 0), hours.tz))
    day = local.date()
    while day <= window.last_day:
        for opens, closes in hours.spans(day):
            if local < closes:
                return max(opens, local)
        day += timedelta(days=1)
    return None


def window_over(moment: datetime, window: Window, hours: CallingHours) -> bool:
    """True when no calling time is left in the window."""
    return next_opening(moment, window, hours) is None
