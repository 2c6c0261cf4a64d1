"""The prepaid campaign's calling window: the one definition (procedure K, 5.1).

A campaign is named by its *due month* (``YYYY-MM``, the month the prepaid services
expire). Procedure K: "Inician llamadas a partir del 25 de mes anterior y concluyen el
último día de mes" — calls start on the 25th of the month before the due month and end on
the due month's last day. :class:`WindowRule` is that definition, configurable (the
campaign settings' ``[window]``); the dialer, the daemon's choice of month, the report and
:func:`in_calling_window` all use it. The hours inside it are the service's
``[service.campaign] windows``: :func:`in_calling_window` here, and the dialer through
``campaigns.window.calling_hours`` (the same rule, checked against this function).
Windows of consecutive months overlap (25–31 December belongs to December's and to
January's campaign).

This module is pure and lives in ``routing`` (a leaf) so that routing can use it too.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from typing import Final

from centralita.routing.table import RoutingTable
from centralita.routing.windows import HOLIDAY, contains, intervals_of


def parse_month(month: str) -> tuple[int, int]:
    """``"2025-03"`` → ``(2025, 3)``; raises ValueError on anything else."""
    parts = month.split("-")
    if len(parts) != 2 or len(parts[0]) != 4 or len(parts[1]) != 2:
        raise ValueError(f"mes {month!r} inválido: se espera AAAA-MM")
    if not (parts[0].isdigit() and parts[1].isdigit()):
        raise ValueError(f"mes {month!r} inválido: se espera AAAA-MM")
    year, mon = int(parts[0]), int(parts[1])
    if not 1 <= mon <= 12:
        raise ValueError(f"mes {month!r} inválido: se espera AAAA-MM")
    return year, mon


def _shift(year: int, mon: int, months: int) -> tuple[int, int]:
    index = year * 12 + (mon - 1) + months
    return index // 12, index % 12 + 1


def _month_name(year: int, mon: int) -> str:
    return f"{year:04d}-{mon:02d}"


@dataclass(frozen=True, slots=True)
class WindowRule:
    """When a due month's campaign calls: from day `start_day` of the month
    `months_before` months before the due month, to the due month's last day (inclusive).

    A `start_day` past the end of a short month means that month's last day.
    """

    start_day: int = 25
    months_before: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.start_day <= 31:
            raise ValueError("start_day debe ser un día del mes (1 a 31)")
        if not 0 <= self.months_before <= 3:
            raise ValueError("months_before debe estar entre 0 y 3")

    def days(self, month: str) -> tuple[dt.date, dt.date]:
        """First and last calendar day (inclusive) of `month`'s campaign."""
        year, mon = parse_month(month)
        first_year, first_mon = _shift(year, mon, -self.months_before)
        first_last = calendar.monthrange(first_year, first_mon)[1]
        first = dt.date(first_year, first_mon, min(self.start_day, first_last))
        return first, dt.date(year, mon, calendar.monthrange(year, mon)[1])

    def contains(self, month: str, day: dt.date) -> bool:
        """True when `day` is inside `month`'s campaign window."""
        first, last = self.days(month)
        return first <= day <= last

    def due_months(self, day: dt.date) -> list[str]:
        """The due months whose window contains `day`, earliest first (on 25 November:
        ``["2026-11", "2026-12"]`` with the default rule)."""
        found: list[str] = []
        for ahead in range(self.months_before + 1):
            month = _month_name(*_shift(day.year, day.month, ahead))
            if self.contains(month, day):
                found.append(month)
        return found


DEFAULT_WINDOW_RULE: Final = WindowRule()
"""Procedure K: from the 25th of the month before to the last day of the due month."""


def in_calling_window(
    table: RoutingTable,
    service_key: str,
    when: dt.datetime,
    *,
    month: str | None = None,
    rule: WindowRule = DEFAULT_WINDOW_RULE,
) -> bool:
    """True when the outbound service may call at `when` (timezone-aware).

    The local day must be inside the window of `month`'s campaign (`rule`); without
    `month`, inside the window of some due month (every day is: the windows of consecutive
    months overlap). The local time must lie in one of the service's campaign windows of
    routing.toml; on a holiday only windows listing ``holiday`` count.

    Raises:
        KeyError: no such service. ValueError: naive `when`, bad `month`, or the service
            has no campaign.
    """
    service = table.service(service_key)
    if service.campaign is None:
        msg = f"service {service_key!r} has no campaign"
        raise ValueError(msg)
    if when.tzinfo is None or when.utcoffset() is None:
        msg = "in_calling_window() needs a timezone-aware datetime"
        raise ValueError(msg)
    local = when.astimezone(table.timezone)
    if month is not None and not rule.contains(month, local.date()):
        return False
    if month is None and not rule.due_months(local.date()):
        return False
    day = HOLIDAY if local.date() in table.holidays else local.weekday()
    return contains(intervals_of(service.campaign.windows), day, local.hour * 60 + local.minute)
