"""Spreadsheet-safe text for every export (CSV and XLSX): nothing a caller controls is a formula.

Exports are documents an auditor keeps and opens in a spreadsheet. A caller number or
name, an agent name, a service or queue name, a customer name... that starts with ``=``,
``+``, ``-`` or ``@`` is read by Excel and LibreOffice as a formula (``=HYPERLINK(...)``,
``=cmd|...``, DDE); a leading tab or carriage return hides the same trick. The OWASP
CSV-injection rule is applied to every text cell of every export: such a text is written
with a single quote in front (``=1+1`` → ``'=1+1``), visible, in CSV and XLSX alike, so
the document reads the same in both formats. Numbers the exports compute stay numbers:
only ``str`` values are touched. A text of one character is left alone: it cannot carry a
formula, and ``-`` is the exports' own "no value" mark.

The rule is idempotent (a protected text starts with ``'`` and is left alone), so a writer
may apply it on top of rows that already went through it. :func:`unprotect_text` gives the
original text back for readers of our own CSV files.

This module is a leaf (standard library only), so that every package with an export may
import it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

FORMULA_TRIGGERS: Final[frozenset[str]] = frozenset({"=", "+", "-", "@", "\t", "\r"})
"""First characters that make a spreadsheet read a cell as a formula (OWASP)."""

QUOTE: Final = "'"

XLSX_ERROR_CODES: Final[frozenset[str]] = frozenset(
    {"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A"}
)
"""Texts an XLSX writer would store as an error cell rather than as text (openpyxl does)."""

_XML_ILLEGAL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
"""Control characters XML 1.0 cannot carry (an XLSX writer refuses them)."""


def is_formula_like(text: str) -> bool:
    """Whether a spreadsheet may read ``text`` as a formula (a trigger, then something)."""
    return len(text) > 1 and text[0] in FORMULA_TRIGGERS


def protect_text(text: str) -> str:
    """``text`` made safe for a spreadsheet cell: a quote in front of a formula-like text."""
    if len(text) > 1 and text[0] in FORMULA_TRIGGERS:
        return QUOTE + text
    return text


def protect_value(value: object) -> object:
    """A cell value made safe: texts through :func:`protect_text`, anything else as is."""
    if isinstance(value, str):
        return protect_text(value)
    return value


def protect_row(values: Iterable[object]) -> list[object]:
    """Every value of a row through :func:`protect_value`."""
    return [protect_value(value) for value in values]


def protect_xlsx_text(text: str) -> str:
    """:func:`protect_text`, and control characters XML cannot carry replaced by ``?``.

    A caller name with such a character would otherwise make the XLSX writer fail and
    the whole export with it.
    """
    if not text.isprintable():  # the common case skips the regular expression
        text = _XML_ILLEGAL.sub("?", text)
    return protect_text(text)


def unprotect_text(text: str) -> str:
    """The text :func:`protect_text` was given, for a reader of our own exports.

    A quote followed by a formula trigger is taken as our protection; a text that
    really began with a quote and a trigger cannot be told apart (it reads back without
    its quote).
    """
    if len(text) > 2 and text[0] == QUOTE and text[1] in FORMULA_TRIGGERS:
        return text[1:]
    return text
