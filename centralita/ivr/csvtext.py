"""Reading the CSV files people import (customers, employees, campaign lists).

One reader for all of them: UTF-8 (a BOM is accepted, as spreadsheets write it), comma or
semicolon (Excel in Spanish writes semicolons; the first line decides), and every record
with the number of the line it starts on, so a refusal can name its place. Each importer
maps :class:`CsvTextError` to its own Spanish message.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class RowError:
    """One rejected CSV line: its 1-based line number in the file and why."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"línea {self.line}: {self.reason}"


class CsvTextError(Exception):
    """The file cannot be read as CSV text at all: ``kind`` is ``io``, ``encoding`` or
    ``csv``; ``line`` where it was found (0 for ``io``)."""

    def __init__(self, kind: str, line: int, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.line = line
        self.reason = reason


def csv_records(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number a record starts on, its fields), record by record.

    Raises:
        CsvTextError: unreadable file, not UTF-8 (naming the line), or broken CSV.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CsvTextError("io", 0, exc.strerror or str(exc)) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise CsvTextError("encoding", line, "no es texto UTF-8") from exc
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    last = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CsvTextError("csv", last + 1, f"CSV ilegible ({exc})") from exc
        line, last = last + 1, reader.line_num
        yield line, fields


def normalize_phone(raw: str) -> str:
    """Digits only, without the +591 country code; '' stays ''."""
    digits = re.sub(r"[\s().-]", "", raw)
    if digits.startswith("+591"):
        digits = digits[4:]
    elif digits.startswith("591") and len(digits) == 11:
        digits = digits[3:]
    return digits
