"""Errors of the metrics package.

One root, so the CLI can catch everything this package raises in one place::

    MetricsError
    ├── PeriodError          a month/day that does not parse ("2026-13")
    ├── RulesError           an invalid counting rule (negative threshold, unknown basis)
    ├── QueueLogError        a queue_log file that cannot be read at all
    └── ExportError          an unknown export format or a file that cannot be written
"""

from __future__ import annotations


class MetricsError(Exception):
    """Root of every error raised by the metrics package."""


class PeriodError(MetricsError):
    """A reporting period that does not parse or is out of range."""


class RulesError(MetricsError):
    """A counting rule with an invalid value."""


class QueueLogError(MetricsError):
    """A queue_log file that cannot be read (malformed lines are reported, not raised)."""


class ExportError(MetricsError):
    """An export that cannot be produced (unknown format, unwritable file)."""
