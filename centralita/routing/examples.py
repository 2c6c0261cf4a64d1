"""The placeholders of a routing file: lines whose comment says ``EXAMPLE``.

The procedure fixes numbers, services, scripts and the measured indicator; office hours,
maximum waits, overflow, holidays, queue priority and campaign hours are the center's own
choices. The shipped file marks each such line with ``# EXAMPLE`` so that an admin sees,
in ``centralita routing check``, what to confirm before going live.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MARK = re.compile(r"#\s*EXAMPLE\b")


@dataclass(frozen=True)
class ExampleLine:
    """One marked line: its number (from 1), its text, and whether it is in force."""

    number: int
    text: str
    active: bool


def example_lines(text: str) -> list[ExampleLine]:
    """Every line of ``text`` whose comment carries the word EXAMPLE.

    A line whose setting is in force (``max_wait_s = 60  # EXAMPLE``) is ``active``; a
    commented-out example (``# [service.priority]  # EXAMPLE``) or a note is not.
    """
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if "EXAMPLE" not in line or not _MARK.search(line):
            continue
        stripped = line.strip()
        found.append(ExampleLine(number, stripped, not stripped.startswith("#")))
    return found
