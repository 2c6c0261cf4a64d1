"""The streaming XLSX writer (metrics.xlsx_stream) and the regulator workbook built on it:
cell types and styles read back with openpyxl, every part well-formed XML, hostile texts
(formulas, control characters, lone surrogates, CR, markup) kept as plain strings without
corrupting the file, and the detail continued on a next sheet past the row limit."""

from __future__ import annotations

import zipfile
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.metrics import export_xlsx, xlsx_stream
from centralita.metrics.export_rows import DETAIL_HEADERS_ES
from centralita.metrics.export_xlsx import write_xlsx
from centralita.metrics.periods import Period
from centralita.metrics.queries import ReportRequest, monthly_report
from centralita.metrics.service_level import CountingRules
from centralita.metrics.xlsx_stream import HEADER, TITLE, XlsxStream, column_letter

NOV = Period.month("2026-11")
MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def parts_are_well_formed(path: Path) -> dict[str, ET.Element]:
    """Every XML part of the package parses; returns them by name."""
    with zipfile.ZipFile(path) as book:
        assert book.testzip() is None
        return {name: ET.fromstring(book.read(name)) for name in book.namelist()}


def test_column_letters() -> None:
    assert [column_letter(i) for i in (0, 25, 26, 51, 701, 702, 16_383)] == [
        "A",
        "Z",
        "AA",
        "AZ",
        "ZZ",
        "AAA",
        "XFD",
    ]


def test_values_styles_and_widths_read_back(tmp_path: Path) -> None:
    out = tmp_path / "t.xlsx"
    with XlsxStream(out) as book:
        ws = book.sheet("Uno", widths={0: 14, 1: 40})
        ws.row(["Título"], TITLE)
        ws.row(["Columna", "Otra"], HEADER)
        ws.row(["texto", 7, -2.5, None, "", True, Decimal("1.25"), 10**12, 0.001])
        ws.row()
        ws.row([float("nan"), date(2026, 11, 3), "fin"])
        book.sheet("Dos").row(["x"])
    parts = parts_are_well_formed(out)
    assert "xl/sharedStrings.xml" not in parts  # inline strings: nothing grows in memory

    wb = load_workbook(out)
    assert wb.sheetnames == ["Uno", "Dos"]
    ws = wb["Uno"]
    rows = [[c.value for c in r] for r in ws.iter_rows()]
    assert rows[0][0] == "Título"
    assert rows[2][:9] == ["texto", 7, -2.5, None, None, True, 1.25, 10**12, 0.001]
    assert all(v is None for v in rows[3])
    assert rows[4][:3] == ["nan", "2026-11-03", "fin"]
    assert ws["A1"].font.b and ws["A1"].font.sz == 14
    assert ws["A2"].font.b and ws["B2"].font.b
    assert ws["A2"].fill.fgColor.rgb == "FFDDEBF7"
    assert not ws["A3"].font.b and ws["A3"].fill.fill_type is None
    assert ws["B3"].data_type == "n" and ws["A3"].data_type == "s"
    assert ws.column_dimensions["A"].width == 14
    assert ws.column_dimensions["B"].width == 40


HOSTILE = [
    "=1+1",
    '=HYPERLINK("http://x","y")',
    "+5",
    "-2+3",
    "@SUM(1,1)",
    "\t=2+2",
    "\r=3+3",
    "#N/A",
    "a\x00b\x1fc\x0bd",
    "lone \ud800 surrogate \udfff",
    "non-characters \ufffe\uffff",
    "línea\r\nsegunda",
    "  spaces kept  ",
    "\nleading newline",
    "<b>&amp; \"quoted\" 'single'</b>",
    "]]>",
    "ñandú — 電話 🙂",
]


def test_hostile_texts_are_plain_strings_and_keep_the_file_valid(tmp_path: Path) -> None:
    out = tmp_path / "t.xlsx"
    with XlsxStream(out) as book:
        ws = book.sheet("Textos")
        for text in HOSTILE:
            ws.row([text])
        ws.row(["x" * 40_000])
    parts_are_well_formed(out)
    with zipfile.ZipFile(out) as book:
        sheet = book.read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet and b"<f " not in sheet

    ws = load_workbook(out)["Textos"]
    cells = [row[0] for row in ws.iter_rows()]
    assert all(cell.data_type == "s" for cell in cells)
    values = [cell.value for cell in cells]
    assert values[:-1] == [
        "'=1+1",
        '\'=HYPERLINK("http://x","y")',
        "'+5",
        "'-2+3",
        "'@SUM(1,1)",
        "'\t=2+2",
        "'\r=3+3",
        "#N/A",
        "a?b?c?d",
        "lone ? surrogate ?",
        "non-characters ??",
        "línea\r\nsegunda",
        "  spaces kept  ",
        "\nleading newline",
        "<b>&amp; \"quoted\" 'single'</b>",
        "]]>",
        "ñandú — 電話 🙂",
    ]
    assert values[-1] == "x" * xlsx_stream.MAX_TEXT  # Excel's limit per cell


def test_sheet_names_are_made_acceptable_and_unique(tmp_path: Path) -> None:
    out = tmp_path / "t.xlsx"
    names = ["a/b:c*d?[e]\\f", "Servicio 1", "servicio 1", "'x'", "y" * 40, "y" * 40, '<&">']
    with XlsxStream(out) as book:
        for name in names:
            book.sheet(name).row([name])
    parts_are_well_formed(out)
    wb = load_workbook(out)
    assert wb.sheetnames == [
        "a_b_c_d__e__f",
        "Servicio 1",
        "servicio 1 (2)",
        "x",
        "y" * 31,
        "y" * 27 + " (2)",
        '<&">',
    ]
    assert [ws["A1"].value for ws in wb.worksheets] == names


def fail_midway(out: Path) -> None:
    with XlsxStream(out) as book:
        book.sheet("Uno").row(["x"])
        raise RuntimeError("boom")


def test_a_failed_export_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "t.xlsx"
    with pytest.raises(RuntimeError, match="boom"):
        fail_midway(out)
    assert not out.exists()


def test_a_full_sheet_refuses_more_rows(tmp_path: Path) -> None:
    with XlsxStream(tmp_path / "t.xlsx") as book:
        ws = book.sheet("Uno", max_rows=2)
        ws.row(["a"])
        states = [ws.full]
        ws.row(["b"])
        states.append(ws.full)
        assert states == [False, True]
        with pytest.raises(ValueError, match="full"):
            ws.row(["c"])


def call(i: int, name: str = "Agent 1") -> dict[str, Any]:
    """A detail row as ``iter_detail`` yields it: answered after 5 s."""
    entered = NOV.start_ms + i * 60_000
    return {
        "uniqueid": f"{entered // 1000}.{i}",
        "service": "101",
        "queue": "q101",
        "caller_num": "=1+1" if i == 0 else f"7{i:07d}",
        "entered_at_ms": entered,
        "answered_at_ms": entered + 5_000,
        "wait_asterisk_s": 5,
        "wait_ms": 5_000,
        "outcome": "answered",
        "agent_name": name,
        "source": "ami",
        "marks": "",
    }


async def detail_of(rows: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for row in rows:
        yield row


@pytest.mark.parametrize("limit", ["rows", "bytes"])
async def test_detail_continues_on_the_next_sheet(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: str
) -> None:
    if limit == "rows":
        monkeypatch.setattr(export_xlsx, "MAX_ROWS", 5)  # the header and 4 calls per sheet
    else:
        # The size guard: a sheet is full once its XML nears the zip member's limit.
        monkeypatch.setattr(xlsx_stream, "_FLUSH_CHARS", 1)
        monkeypatch.setattr(xlsx_stream, "MAX_PART_BYTES", 4_000)
    report = await monthly_report(engine, ReportRequest(NOV, CountingRules()))
    rows = [call(i, name="\x07=cmd|' /C calc'!A0" if i == 7 else "Agent 1") for i in range(11)]
    out = tmp_path / "r.xlsx"
    assert await write_xlsx(report, out, detail_of(rows)) == 11
    parts_are_well_formed(out)

    wb = load_workbook(out)
    details = [name for name in wb.sheetnames if name.startswith("Detalle")]
    assert wb.sheetnames[-1] == "Leyenda"
    if limit == "rows":
        assert details == ["Detalle", "Detalle 2", "Detalle 3"]
    else:
        assert len(details) > 1
    uniqueids: list[str] = []
    for name in details:
        sheet = [[c.value for c in r] for r in wb[name].iter_rows()]
        assert tuple(sheet[0]) == DETAIL_HEADERS_ES  # each sheet has its header, bold
        assert wb[name]["A1"].font.b
        uniqueids += [r[0] for r in sheet[1:]]
        if limit == "rows":
            assert len(sheet) <= 5
    assert uniqueids == [r["uniqueid"] for r in rows]  # every call, in order, once
    agents = {c.value for ws in details for c in wb[ws]["J"]}
    assert "?=cmd|' /C calc'!A0" in agents  # the control character made harmless
    callers = {c.value for c in wb["Detalle"]["D"]}
    assert "'=1+1" in callers


async def test_the_workbook_parts(engine: AsyncEngine, tmp_path: Path) -> None:
    """The package declares each sheet once, in order, and its styles."""
    report = await monthly_report(engine, ReportRequest(NOV, CountingRules()))
    out = tmp_path / "r.xlsx"
    await write_xlsx(report, out, detail_of([call(1)]))
    parts = parts_are_well_formed(out)
    sheets = parts["xl/workbook.xml"].findall(f"{MAIN}sheets/{MAIN}sheet")
    names = [s.get("name") for s in sheets]
    assert names[0] == "Resumen"
    assert names[-3:] == ["Por hora", "Detalle", "Leyenda"]
    assert all(str(name).startswith("Servicio ") for name in names[1:-3])
    types = parts["[Content_Types].xml"]
    overrides = {o.get("PartName") for o in types}
    worksheets = {f"/xl/worksheets/sheet{i}.xml" for i in range(1, len(names) + 1)}
    assert {name for name in overrides if "worksheets" in str(name)} == worksheets
    assert "/xl/styles.xml" in overrides
    detail = parts[f"xl/worksheets/sheet{len(names) - 1}.xml"]
    first = detail.find(f"{MAIN}sheetData/{MAIN}row")
    assert first is not None
    assert {c.get("s") for c in first} == {"1"}  # the header style
