"""Nothing a caller controls becomes a formula in an export (issue 14, item 4).

Unit tests of :mod:`metrics.cellsafe`, then the acceptance test: the real master capture
with its callers renamed to spreadsheet formulas (``=HYPERLINK(...)``, ``=1+1``, ``-2+3``,
``@SUM(1,1)``, ``+5``, a tab-prefixed value, ``=123``...) and its agents too, through the
real ingest and queue_log import on SQLite, then the monthly report in CSV and XLSX (with
the call-detail sheets), from the AMI records and from queue_log, by service and by queue,
and through the CLI, and the ``calls`` CSV listing: no formula cell in any workbook, no
CSV field that starts a formula.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.ingest import ingest_capture
from centralita.calls_view import fetch_calls
from centralita.calls_view import render_csv as render_calls_csv
from centralita.cli import main
from centralita.metrics.cellsafe import (
    is_formula_like,
    protect_row,
    protect_text,
    protect_value,
    protect_xlsx_text,
    unprotect_text,
)
from centralita.metrics.export_csv import read_summary_csv, render_csv
from centralita.metrics.export_text import render_json
from centralita.metrics.export_xlsx import write_xlsx
from centralita.metrics.periods import Period
from centralita.metrics.queries import ReportRequest, iter_detail, monthly_report
from centralita.metrics.queue_log_import import import_queue_log
from centralita.metrics.service_level import CountingRules
from tests.metrics.conftest import FIXTURES, PBX

MASTER = "GIT-master-f0c1c1a7b7"
NOV = Period.month("2026-11")
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

# ---------------------------------------------------------------------------- unit


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("=1+1", "'=1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(1,1)", "'@SUM(1,1)"),
        ("+5", "'+5"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("=123", "'=123"),
        ("2247249", "2247249"),
        ("Agent 1", "Agent 1"),
        ("a=1+1", "a=1+1"),
        (" =1+1", " =1+1"),
        ("'=1+1", "'=1+1"),
        ("", ""),
        ("-", "-"),
        ("=", "="),
    ],
)
def test_protect_text_quotes_formula_like_texts_only(text: str, safe: str) -> None:
    assert protect_text(text) == safe
    assert is_formula_like(text) == (safe != text)
    assert protect_text(safe) == safe  # idempotent: a writer may apply it twice


@pytest.mark.parametrize(
    "text", ["=1+1", "-2+3", "@SUM(1,1)", "+5", "\t=1", "'x", "'=1+1", "plain", "", "-"]
)
def test_unprotect_gives_the_text_back(text: str) -> None:
    if text == "'=1+1":
        # The one ambiguity: a text that really began with a quote and a trigger.
        assert unprotect_text(protect_text(text)) == "=1+1"
    else:
        assert unprotect_text(protect_text(text)) == text


def test_numbers_stay_numbers() -> None:
    assert protect_row(["=1+1", -5, -2.5, None, True, "x"]) == ["'=1+1", -5, -2.5, None, True, "x"]
    assert protect_value(-1) == -1


def test_xlsx_text_drops_characters_xml_cannot_carry() -> None:
    assert protect_xlsx_text("a\x00b\x1fc\x0bd") == "a?b?c?d"
    assert protect_xlsx_text("\x01=1+1") == "?=1+1"
    assert protect_xlsx_text("\t=1+1") == "'\t=1+1"
    assert protect_xlsx_text("línea\nsegunda") == "línea\nsegunda"


# ------------------------------------------------------------------ the capture

# Caller numbers of the master capture (all queued in November) → (number, name) given.
CALLERS: dict[str, tuple[str, str]] = {
    "2247249": ('=HYPERLINK("http://x","y")', '=HYPERLINK("http://x","y")'),
    "78037242": ("=1+1", "=1+1"),
    "4939644": ("-2+3", "-2+3"),
    "4461070": ("@SUM(1,1)", "@SUM(1,1)"),
    "64948611": ("+5", "+5"),
    "78953219": ("\t=2+2", "\t=2+2"),
    "72020978": ("=123", "#N/A"),
    "4733153": ("#N/A", "-3+3"),
}
AGENTS = {"Agent 1": "@agente", "Agent 2": "=SUM(A1:A9)", "Agent 3": "-1+2"}
SERVICE_NAMES = {"101": "=1+1", "102": "@SUM(1,1)", "103": "-2+3", "4522222": "+5"}


def _poisoned_capture() -> bytes:
    """The master capture with the callers and agents above, message by message."""
    out = []
    for message in (FIXTURES / f"{MASTER}-scenario.ami").read_bytes().split(b"\r\n\r\n"):
        text = message.decode()
        number = re.search(r"^CallerIDNum: ([^\r\n]*)", text, re.M)
        if number and number.group(1) in CALLERS:
            num, name = CALLERS[number.group(1)]
            text = re.sub(r"^CallerIDName: [^\r\n]*", f"CallerIDName: {name}", text, flags=re.M)
            text = re.sub(r"^CallerIDNum: [^\r\n]*", f"CallerIDNum: {num}", text, flags=re.M)
        for original, given in CALLERS.items():
            text = text.replace(
                f"ConnectedLineNum: {original}\r", f"ConnectedLineNum: {given[0]}\r"
            )
        for original, agent in AGENTS.items():
            text = text.replace(f"MemberName: {original}\r", f"MemberName: {agent}\r")
        out.append(text.encode())
    return b"\r\n\r\n".join(out)


def _poisoned_queue_log() -> str:
    lines = []
    for line in (FIXTURES / f"{MASTER}-queue_log").read_text().splitlines():
        fields = line.split("|")
        if len(fields) > 6 and fields[4] == "ENTERQUEUE" and fields[6] in CALLERS:
            fields[6] = CALLERS[fields[6]][0]
        if len(fields) > 3 and fields[3] in AGENTS:
            fields[3] = AGENTS[fields[3]]
        lines.append("|".join(fields))
    return "\n".join(lines) + "\n"


@pytest.fixture
async def poisoned(engine: AsyncEngine) -> AsyncEngine:
    """The poisoned capture ingested and its queue_log imported (SQLite)."""
    await ingest_capture(_poisoned_capture(), engine, PBX)
    await import_queue_log(_poisoned_queue_log(), engine, pbx_id=PBX, source=MASTER)
    return engine


# ---------------------------------------------------------------------- checks


def _starts_formula(text: str) -> bool:
    # "-" alone is the exports' "no value" mark: one character carries no formula.
    return text[:1] in TRIGGERS and text != "-"


def assert_xlsx_safe(path: Path) -> dict[str, list[Any]]:
    """No formula anywhere in the workbook; returns every sheet's cell values."""
    with zipfile.ZipFile(path) as book:
        for name in book.namelist():
            if name.startswith("xl/worksheets/"):
                xml = book.read(name)
                assert b"<f>" not in xml and b"<f " not in xml, name
    workbook = load_workbook(path)
    values: dict[str, list[Any]] = {}
    for ws in workbook.worksheets:
        values[ws.title] = []
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert cell.data_type == "s", (ws.title, cell.coordinate, cell.value)
                    assert not _starts_formula(cell.value), (ws.title, cell.coordinate)
                values[ws.title].append(cell.value)
    return values


def assert_csv_safe(text: str) -> list[str]:
    """No field (comment lines included) starts a formula; returns every field."""
    fields = [field for row in csv.reader(io.StringIO(text)) for field in row]
    for field in fields:
        assert field[:1] not in TRIGGERS, field
    return fields


def _quoted(values: list[str]) -> set[str]:
    return {"'" + value for value in values}


# ------------------------------------------------------------------ acceptance


async def test_the_capture_stored_the_formulas_as_given(poisoned: AsyncEngine) -> None:
    """The premise: the values reached the store unchanged (the exports must protect)."""
    async with poisoned.connect() as conn:
        rows = [row async for row in iter_detail(conn, ReportRequest(NOV, CountingRules()))]
    assert {num for num, _ in CALLERS.values()} <= {row["caller_num"] for row in rows}
    assert set(AGENTS.values()) <= {row["agent_name"] for row in rows}


@pytest.mark.parametrize(
    ("source", "by"), [("ami", "service"), ("ami", "queue"), ("queue_log", "service")]
)
async def test_no_formula_in_the_monthly_report(
    poisoned: AsyncEngine, tmp_path: Path, source: Any, by: Any
) -> None:
    request = ReportRequest(NOV, CountingRules(), by, source)
    names = SERVICE_NAMES if by == "service" else {}
    report = await monthly_report(poisoned, request, names=names, software_version="t")

    fields = assert_csv_safe(render_csv(report))
    if by == "service":
        assert _quoted(["=1+1", "@SUM(1,1)", "-2+3", "+5"]) <= set(fields)
        # Our own reader gives the names back; JSON carries them as they are.
        _, records = read_summary_csv(render_csv(report))
        assert {r["service"]: r["name"] for r in records}["101"] == "=1+1"
        lines = json.loads(render_json(report))["lines"]
        assert {line["service"]: line["name"] for line in lines}["102"] == "@SUM(1,1)"

    out = tmp_path / "r.xlsx"
    async with poisoned.connect() as conn:
        written = await write_xlsx(report, out, iter_detail(conn, request))
    assert written > 0
    sheets = assert_xlsx_safe(out)
    detail = set(sheets["Detalle"])
    agents = _quoted(list(AGENTS.values()))
    assert agents <= detail
    if by == "service":
        assert _quoted([num for num, _ in CALLERS.values() if num != "#N/A"]) <= detail
        assert "#N/A" in detail  # a string cell (checked above), not an error cell
        assert _quoted(["=1+1", "@SUM(1,1)", "-2+3", "+5"]) <= set(sheets["Resumen"])


async def test_no_formula_in_the_calls_csv(poisoned: AsyncEngine) -> None:
    """``centralita calls --format csv``, the audit listing, has the caller names too."""
    rows = await fetch_calls(poisoned, "2026-11")
    fields = set(assert_csv_safe(render_calls_csv(rows)))
    given = [value for pair in CALLERS.values() for value in pair if value != "#N/A"]
    assert _quoted(given) | _quoted(list(AGENTS.values())) <= fields
    assert "#N/A" in fields


@pytest.fixture
async def poisoned_url(poisoned: AsyncEngine, sqlite_url: str) -> str:
    """The URL of the poisoned database (for the CLI, which runs its own event loop)."""
    return sqlite_url


def test_no_formula_through_the_cli(
    poisoned_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for fmt in ("csv", "xlsx"):
        out = tmp_path / f"r.{fmt}"
        code = main(
            [
                "report",
                "--month",
                "2026-11",
                "--db",
                poisoned_url,
                "--format",
                fmt,
                "--out",
                str(out),
            ]
        )
        assert code == 0, capsys.readouterr().err
    assert_csv_safe((tmp_path / "r.csv").read_text(encoding="utf-8"))
    detail = set(assert_xlsx_safe(tmp_path / "r.xlsx")["Detalle"])
    assert {'\'=HYPERLINK("http://x","y")', "'\t=2+2", "'@agente", "#N/A"} <= detail
