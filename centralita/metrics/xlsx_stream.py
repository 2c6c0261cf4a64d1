"""A small streaming XLSX writer: each row goes as SpreadsheetML straight into the zip.

The regulator workbook holds a month of calls, one row each, and must not keep them in
memory nor take minutes: openpyxl's write-only mode costs ~400 µs per row (cell objects
and a pure-Python XML serialiser), XlsxWriter's ``constant_memory`` mode ~70 µs; this
writer formats a row as one string (a few µs) and deflates it into the open zip member.

What it writes, and nothing more: worksheets whose cells are numbers, booleans or inline
strings (no shared-strings table, so no memory grows with the rows), three cell styles
(:data:`PLAIN`, :data:`HEADER` bold on light blue, :data:`TITLE` bold 14 pt), column
widths, and the parts every reader needs (``[Content_Types].xml``, the relationships,
``xl/workbook.xml``, ``xl/styles.xml``).

Formula safety is by construction: there is no way to write a ``<f>`` element, so no cell
is ever a formula. Every text still goes through
:func:`metrics.cellsafe.protect_xlsx_text` (a visible quote in front of a formula-like
text, as in the CSV, so that a copy into another spreadsheet stays inert) and is cleaned of
what XML 1.0 cannot carry (control characters, lone surrogates, U+FFFE/U+FFFF become
``?``): a caller's name never corrupts the file.
"""

from __future__ import annotations

import math
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final

from centralita.metrics.cellsafe import FORMULA_TRIGGERS, protect_xlsx_text

PLAIN: Final = 0
HEADER: Final = 1
"""Bold on light blue: column headers."""
TITLE: Final = 2
"""Bold, 14 pt: the first line of a sheet."""

MAX_ROWS: Final = 1_048_576
"""Excel's rows per sheet."""
MAX_TEXT: Final = 32_767
"""Excel's characters per cell: a longer text is cut (Excel would refuse the file)."""
MAX_PART_BYTES: Final = 2**31 - 1 - 64 * 2**20
"""A sheet past this many bytes of XML is full (a zip member without ZIP64 stays < 2 GiB;
ZIP64 is avoided because not every spreadsheet opens it)."""

_FLUSH_CHARS: Final = 1 << 20
"""Rows are joined and deflated by about this many characters."""

_MAIN_NS: Final = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS: Final = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS: Final = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML_HEAD: Final = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

_XML_INVALID: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
"""What XML 1.0 cannot carry (beyond :mod:`metrics.cellsafe`'s control characters)."""
_SHEET_NAME_INVALID: Final = re.compile(r"[\[\]:*?/\\\x00-\x1f]")
"""Characters Excel refuses in a sheet name."""

_STYLES: Final = (
    f'{_XML_HEAD}<styleSheet xmlns="{_MAIN_NS}">'
    '<fonts count="3">'
    '<font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="14"/><name val="Calibri"/><family val="2"/></font>'
    "</fonts>"
    '<fills count="3">'
    '<fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill>'
    '<fill><patternFill patternType="solid"><fgColor rgb="FFDDEBF7"/>'
    '<bgColor indexed="64"/></patternFill></fill>'
    "</fills>"
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
    "</cellStyleXfs>"
    '<cellXfs count="3">'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="2" borderId="0" xfId="0" applyFont="1" applyFill="1"/>'
    '<xf numFmtId="0" fontId="2" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


def column_letter(index: int) -> str:
    """``A`` for 0, ``Z`` for 25, ``AA`` for 26..."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


MAX_COLUMNS: Final = 16_384
"""Excel's columns per sheet."""
_COLUMNS: Final = tuple(column_letter(i) for i in range(MAX_COLUMNS))
_SPACES: Final = (" ", "\t", "\n", "\r")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escape_attr(text: str) -> str:
    return _escape(text).replace('"', "&quot;")


def _text_cell_slow(text: str) -> str:
    """The ``<is>`` part of a text that needs more than escaping (rare path)."""
    text = protect_xlsx_text(text)
    if not text.isprintable():
        text = _XML_INVALID.sub("?", text)
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT]
    # Leading or trailing white space is kept only when asked for.
    space = ' xml:space="preserve"' if text[:1] in _SPACES or text[-1:] in _SPACES else ""
    # A parser turns a raw CR into LF: a character reference keeps it.
    return f"<is><t{space}>{_escape(text).replace(chr(13), '&#13;')}</t></is>"


def _number(value: float | int | Decimal) -> str | None:
    """The ``<v>`` text of a number, or ``None`` if a spreadsheet cannot hold it."""
    if isinstance(value, int):
        return str(int(value))
    if math.isfinite(value):
        return repr(float(value)) if isinstance(value, float) else str(value)
    return None


class Sheet:
    """One worksheet being written; rows are appended with :meth:`row`."""

    def __init__(
        self, stream: IO[bytes], name: str, widths: Mapping[int, float], max_rows: int
    ) -> None:
        self.name = name
        self.rows = 0
        self.max_rows = max_rows
        self._stream = stream
        self._pending: list[str] = []
        self._pending_chars = 0
        self._bytes = 0
        head = [_XML_HEAD, f'<worksheet xmlns="{_MAIN_NS}">']
        if widths:
            head.append("<cols>")
            for col, width in sorted(widths.items()):
                head.append(
                    f'<col min="{col + 1}" max="{col + 1}" width="{width}" customWidth="1"/>'
                )
            head.append("</cols>")
        head.append("<sheetData>")
        self._write("".join(head))

    @property
    def full(self) -> bool:
        """Whether another row would pass Excel's row limit or the zip member's size."""
        return self.rows >= self.max_rows or self._bytes + 4 * self._pending_chars >= MAX_PART_BYTES

    def row(self, values: Sequence[Any] = (), style: int = PLAIN) -> None:
        """Append a row: ``None`` and ``""`` leave the cell empty, a ``str`` is an inline
        string, a finite ``int``/``float``/``Decimal`` a number, ``bool`` a boolean;
        anything else is written as its text (``nan`` included). ``style`` applies to
        every cell of the row."""
        if self.rows >= self.max_rows:
            raise ValueError(f"sheet {self.name!r} is full ({self.max_rows} rows)")
        if len(values) > MAX_COLUMNS:
            raise ValueError(f"a row has more than {MAX_COLUMNS} columns")
        self.rows += 1
        n = str(self.rows)
        s = f' s="{style}"' if style else ""
        parts = [f'<row r="{n}">']
        add = parts.append
        for col, value in zip(_COLUMNS, values, strict=False):  # checked above
            cls = value.__class__
            if cls is str:
                if not value:
                    continue
                if value[0] in FORMULA_TRIGGERS or len(value) > MAX_TEXT or not value.isprintable():
                    add(f'<c r="{col}{n}"{s} t="inlineStr">{_text_cell_slow(value)}</c>')
                    continue
                if "&" in value or "<" in value or ">" in value:
                    value = _escape(value)  # noqa: PLW2901 - the same text, escaped
                if value[0] == " " or value[-1] == " ":
                    add(f'<c r="{col}{n}"{s} t="inlineStr"><is><t xml:space="preserve">')
                    add(f"{value}</t></is></c>")
                else:
                    add(f'<c r="{col}{n}"{s} t="inlineStr"><is><t>{value}</t></is></c>')
            elif cls is int or (cls is float and math.isfinite(value)):
                add(f'<c r="{col}{n}"{s}><v>{value!r}</v></c>')
            elif value is None:
                if s:
                    add(f'<c r="{col}{n}"{s}/>')
            elif cls is bool:
                add(f'<c r="{col}{n}"{s} t="b"><v>{int(value)}</v></c>')
            elif isinstance(value, int | float | Decimal) and (text := _number(value)):
                add(f'<c r="{col}{n}"{s}><v>{text}</v></c>')
            else:
                text = str(value)
                if text:
                    add(f'<c r="{col}{n}"{s} t="inlineStr">{_text_cell_slow(text)}</c>')
        parts.append("</row>")
        line = "".join(parts)
        self._pending.append(line)
        self._pending_chars += len(line)
        if self._pending_chars >= _FLUSH_CHARS:
            self._flush()

    def rows_of(self, rows: Iterable[Sequence[Any]], style: int = PLAIN) -> None:
        """:meth:`row` for each of ``rows``."""
        for values in rows:
            self.row(values, style)

    def _flush(self) -> None:
        if self._pending:
            self._write("".join(self._pending))
            self._pending.clear()
            self._pending_chars = 0

    def _write(self, text: str) -> None:
        data = text.encode("utf-8")
        self._bytes += len(data)
        self._stream.write(data)

    def close(self) -> None:
        """End the sheet's XML (the zip member is closed by the workbook)."""
        self._flush()
        self._write("</sheetData></worksheet>")


def _sheet_name(name: str, taken: set[str]) -> str:
    """A name Excel accepts: forbidden characters as ``_``, 31 characters, unique."""
    clean = _SHEET_NAME_INVALID.sub("_", _XML_INVALID.sub("_", name)).strip("'") or "Hoja"
    clean = clean[:31]
    candidate, number = clean, 1
    while candidate.casefold() in taken:
        number += 1
        suffix = f" ({number})"
        candidate = clean[: 31 - len(suffix)] + suffix
    taken.add(candidate.casefold())
    return candidate


class XlsxStream:
    """A workbook written sheet after sheet into ``path``; use it as a context manager.

    Only one sheet is open at a time: :meth:`sheet` ends the previous one. Leaving the
    ``with`` block writes the workbook parts; on an exception the partial file is removed.
    """

    def __init__(self, path: str | Path, *, compresslevel: int = 1) -> None:
        self.path = Path(path)
        self._zip = zipfile.ZipFile(
            self.path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel
        )
        self._names: list[str] = []
        self._taken: set[str] = set()
        self._member: IO[bytes] | None = None
        self._sheet: Sheet | None = None

    def sheet(
        self, name: str, widths: Mapping[int, float] | None = None, max_rows: int = MAX_ROWS
    ) -> Sheet:
        """Start a new sheet (column index → width in characters); it takes at most
        ``max_rows`` rows (Excel's limit at most)."""
        self._end_sheet()
        title = _sheet_name(name, self._taken)
        self._names.append(title)
        part = f"xl/worksheets/sheet{len(self._names)}.xml"
        self._member = self._zip.open(part, "w", force_zip64=False)
        self._sheet = Sheet(self._member, title, widths or {}, min(max_rows, MAX_ROWS))
        return self._sheet

    def _end_sheet(self) -> None:
        if self._sheet is not None and self._member is not None:
            self._sheet.close()
            self._member.close()
        self._sheet = self._member = None

    def close(self) -> None:
        """End the last sheet and write the workbook parts."""
        self._end_sheet()
        count = len(self._names)
        sheets = "".join(
            f'<sheet name="{_escape_attr(name)}" sheetId="{i}" r:id="rId{i}"/>'
            for i, name in enumerate(self._names, 1)
        )
        rels = "".join(
            f'<Relationship Id="rId{i}" Type="{_REL_NS}/worksheet" '
            f'Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, count + 1)
        )
        overrides = "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            for i in range(1, count + 1)
        )
        parts = {
            "xl/workbook.xml": (
                f'{_XML_HEAD}<workbook xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}">'
                f"<bookViews><workbookView/></bookViews><sheets>{sheets}</sheets></workbook>"
            ),
            "xl/_rels/workbook.xml.rels": (
                f'{_XML_HEAD}<Relationships xmlns="{_PKG_REL_NS}">{rels}'
                f'<Relationship Id="rId{count + 1}" Type="{_REL_NS}/styles" '
                'Target="styles.xml"/></Relationships>'
            ),
            "xl/styles.xml": _STYLES,
            "_rels/.rels": (
                f'{_XML_HEAD}<Relationships xmlns="{_PKG_REL_NS}">'
                f'<Relationship Id="rId1" Type="{_REL_NS}/officeDocument" '
                'Target="xl/workbook.xml"/></Relationships>'
            ),
            "[Content_Types].xml": (
                f'{_XML_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
                'content-types">'
                '<Default Extension="rels" ContentType="application/'
                'vnd.openxmlformats-package.relationships+xml"/>'
                '<Default Extension="xml" ContentType="application/xml"/>'
                '<Override PartName="/xl/workbook.xml" ContentType="application/'
                'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                '<Override PartName="/xl/styles.xml" ContentType="application/'
                'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
                f"{overrides}</Types>"
            ),
        }
        for name, text in parts.items():
            self._zip.writestr(name, text.encode("utf-8"))
        self._zip.close()

    def __enter__(self) -> XlsxStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
            return
        try:
            if self._member is not None:
                self._member.close()
            self._zip.close()
        finally:
            self.path.unlink(missing_ok=True)
