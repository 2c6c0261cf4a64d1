"""When a prepaid campaign may call (pure).

A campaign is named by the month the prepaid services expire (``YYYY-MM``). Procedure K:
calls start on the 25th of the month before and end on the last day of the month, local
time America/La_Paz. Inside that window a call may only be placed during calling hours
(per weekday, configurable) and never on a configured day off.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

LA_PAZ: Final = ZoneInfo("America/La_Paz")
WINDOW_START_DAY: Final = 25

Hours = tuple[time, time]

DEFAULT_HOURS: Final[dict[int, Hours]] = {
    0: (time(8, 30), time(19, 0)),
    1: (time(8, 30), time(19, 0)),
    2: (time(8, 30), time(19, 0)),
    3: (time(8, 30), time(19, 0)),
    4: (time(8, 30), time(19, 0)),
    5: (time(9, 0), time(13, 0)),
}
"""Monday to Friday 08:30-19:00, Saturday 09:00-13:00, no calls on Sunday."""


def parse_month(month: str) -> tuple[int, int]:
    """``"2025-03"`` → ``(2025, 3)``; raises ValueError on anything else."""
    parts = month.split("-")
    if len(parts) != 2 or len(parts[0]) != 4 or len(parts[1]) != 2:
        raise ValueError(f"mes {month!r} invalido: se espera AAAA-MM")
    year, mon = int(parts[0]), int(parts[1])
    if not 1 <= mon <= 12:
        raise ValueError(f"mes {month!r} invalido: se espera AAAA-MM")
    return year, mon


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


def campaign_window(month: str) -> Window:
    """The window of the campaign for services expiring in `month`."""
    year, mon = parse_month(month)
    prev_year, prev_mon = (year - 1, 12) if mon == 1 else (year, mon - 1)
    last = calendar.monthrange(year, mon)[1]
    return Window(date(prev_year, prev_mon, WINDOW_START_DAY), date(year, mon, last))


@dataclass(frozen=True, slots=True)
class CallingHours:
    """Calling hours per weekday (0 = Monday) and days off.

    A weekday missing from `hours` is a day without calls; `end` is exclusive.
    """

    hours: dict[int, Hours] = field(default_factory=lambda: dict(DEFAULT_HOURS))
    days_off: frozenset[date] = frozenset()

    def allows(self, local: datetime) -> bool:
        """True when a call may be placed at `local` (a La Paz time)."""
        if local.date() in self.days_off:
            return False
        span = self.hours.get(local.weekday())
        if span is None:
            return False
        return span[0] <= local.time().replace(tzinfo=None) < span[1]


def to_local(moment: datetime) -> datetime:
    """An aware datetime in La Paz time; naive datetimes are rejected."""
    if moment.tzinfo is None:
        raise ValueError("se requiere una fecha y hora con zona horaria")
    return moment.astimezone(LA_PAZ)


def may_call(moment: datetime, window: Window, hours: CallingHours) -> bool:
    """True when the campaign may place a call at `moment`."""
    local = to_local(moment)
    return window.contains(local.date()) and hours.allows(local)


def next_opening(moment: datetime, window: Window, hours: CallingHours) -> datetime | None:
    """The first instant at or after `moment` when a call may be placed; None if the window
    has no calling time left."""
    local = max(to_local(moment), window.start)
    day = local.date()
    while day <= window.last_day:
        span = hours.hours.get(day.weekday())
        if span is not None and day not in hours.days_off:
            opens = datetime.combine(day, span[0], LA_PAZ)
            closes = datetime.combine(day, span[1], LA_PAZ)
            if local < closes:
                return max(opens, local)
        day += timedelta(days=1)
        local = datetime.combine(day, time(0, 0), LA_PAZ)
    return None


def window_over(moment: datetime, window: Window, hours: CallingHours) -> bool:
    """True when no calling time is left in the window."""
    return next_opening(moment, window, hours) is None
