"""Reporting periods in local time (America/La_Paz by default): pure, no I/O.

A call belongs to the period in which it *entered the queue*. Periods are half-open
intervals ``[start_ms, end_ms)`` of UTC epoch milliseconds whose ends are local midnights,
so a call entering at 23:59:59.999 local on the last day of a month is in that month.

Hourly buckets are counted in SQL as ``(entered_at_ms - start_ms) // 3_600_000``; since
the period starts at a local midnight and every zone used here shifts by whole hours, an
hour index maps to exactly one local (date, hour), which :meth:`Period.local_hour` gives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from centralita.metrics.exceptions import PeriodError

DEFAULT_TZ = "America/La_Paz"
HOUR_MS = 3_600_000
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")

MONTH_NAMES_ES = (
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
)


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise PeriodError(f"zona horaria desconocida: {tz!r}") from exc


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class Period:
    """A half-open local-time interval: a calendar month or a single day."""

    kind: str  # "month" | "day"
    first_day: date
    days: int
    tz: str = DEFAULT_TZ

    @classmethod
    def month(cls, text: str, tz: str = DEFAULT_TZ) -> Period:
        """Parse ``YYYY-MM`` into the calendar month in ``tz``.

        Raises:
            PeriodError: the text is not a valid month.
        """
        match = _MONTH.match(text.strip())
        if match is None:
            raise PeriodError(f"mes inválido {text!r}: se espera AAAA-MM, p. ej. 2026-11")
        year, month = int(match.group(1)), int(match.group(2))
        if not 1 <= month <= 12 or year < 1970:
            raise PeriodError(f"mes inválido {text!r}")
        first = date(year, month, 1)
        nxt = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
        _zone(tz)
        return cls("month", first, (nxt - first).days, tz)

    @classmethod
    def day(cls, text: str, tz: str = DEFAULT_TZ) -> Period:
        """Parse ``YYYY-MM-DD`` into that local day.

        Raises:
            PeriodError: the text is not a valid date.
        """
        try:
            first = date.fromisoformat(text.strip())
        except ValueError as exc:
            raise PeriodError(f"día inválido {text!r}: se espera AAAA-MM-DD") from exc
        _zone(tz)
        return cls("day", first, 1, tz)

    @property
    def zone(self) -> ZoneInfo:
        """The period's time zone."""
        return _zone(self.tz)

    @property
    def label(self) -> str:
        """``2026-11`` for a month, ``2026-11-29`` for a day."""
        if self.kind == "month":
            return f"{self.first_day.year:04d}-{self.first_day.month:02d}"
        return self.first_day.isoformat()

    @property
    def label_es(self) -> str:
        """Human Spanish label: ``noviembre de 2026`` or ``29/11/2026``."""
        if self.kind == "month":
            return f"{MONTH_NAMES_ES[self.first_day.month - 1]} de {self.first_day.year}"
        return self.first_day.strftime("%d/%m/%Y")

    @property
    def start_ms(self) -> int:
        """UTC epoch ms of local midnight of the first day (inclusive)."""
        return _epoch_ms(datetime.combine(self.first_day, datetime.min.time(), self.zone))

    @property
    def end_ms(self) -> int:
        """UTC epoch ms of local midnight after the last day (exclusive)."""
        last = self.first_day + timedelta(days=self.days)
        return _epoch_ms(datetime.combine(last, datetime.min.time(), self.zone))

    def dates(self) -> list[date]:
        """Every local date of the period."""
        return [self.first_day + timedelta(days=i) for i in range(self.days)]

    def contains(self, epoch_ms: int) -> bool:
        """True when the instant is inside the period."""
        return self.start_ms <= epoch_ms < self.end_ms

    def local_hour(self, hour_index: int) -> tuple[date, int]:
        """Local (date, hour of day) of the ``hour_index``-th hour since the start."""
        moment = datetime.fromtimestamp((self.start_ms + hour_index * HOUR_MS) / 1000, self.zone)
        return moment.date(), moment.hour

    def local_datetime(self, epoch_ms: int) -> datetime:
        """An instant as an aware local datetime."""
        return datetime.fromtimestamp(epoch_ms / 1000, self.zone)


def local_text(epoch_ms: int | None, tz: str = DEFAULT_TZ) -> str:
    """``2026-11-28 23:14:05`` in local time, or ``""``."""
    if epoch_ms is None:
        return ""
    local = datetime.fromtimestamp(epoch_ms / 1000, _zone(tz))
    # isoformat of the naive local time: the same text as strftime, several times faster
    # (it runs twice per call of a month's audit detail).
    return local.replace(tzinfo=None).isoformat(" ", "seconds")
