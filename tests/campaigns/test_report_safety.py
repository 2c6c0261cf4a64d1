"""The campaign report XLSX holds no formula, whatever the customers and agents are named.

Customer names, a contract and agent names that a spreadsheet would read as formulas go
through the real list import and the store (SQLite and PostgreSQL): every text cell of the
workbook is a string cell, shown with a quote in front, and the counts stay numbers.
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.campaigns import store
from centralita.campaigns.importer import import_customer_list
from centralita.campaigns.report import build_report, write_xlsx
from tests.campaigns.conftest import LIST_HEADER, write

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# contract, phone, service, name
CUSTOMERS = [
    ("C1", "71000001", "TV Cable", '=HYPERLINK("http://x","y")'),
    ("C2", "71000002", "TV Cable", "=1+1"),
    ("-12-3", "71000003", "Internet", "-2+3"),
    ("C4", "71000004", "Internet", "@SUM(1,1)"),
    ("C5", "71000005", "TV Cable", "+5"),
    ("C6", "71000006", "Internet", "#N/A"),
]
# contract → (agent connected, agent who recorded the disposition)
AGENTS = {
    "C1": ("@agente", "=SUM(A1:A9)"),
    "C2": ("\t=1+1", ""),
    "-12-3": ("-1+2", "-1+2"),
}


def _list_csv() -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(LIST_HEADER.split(","))
    for contract, phone, service, name in CUSTOMERS:
        writer.writerow([contract, phone, service, name, "2025-03-31"])
    return buf.getvalue()


async def _load(engine: AsyncEngine, tmp_path: Path) -> None:
    await import_customer_list(engine, write(tmp_path / "l.csv", _list_csv()), month=None, now_ms=0)
    cid = (await store.get_campaign(engine, "2025-03")).campaign_id
    at = datetime(2025, 2, 26, 15, 0, tzinfo=UTC)
    phones = {contract: phone for contract, phone, _, _ in CUSTOMERS}
    for contract, (agent, disposer) in AGENTS.items():
        attempt_id, _ = await store.add_attempt(
            engine,
            campaign_id=cid,
            contract=contract,
            phone=phones[contract],
            attempt_no=1,
            queue="q",
            action_prefix="t",
            placed_at=at,
        )
        await store.add_result(engine, attempt_id, "answered", at)
        await store.add_agent(engine, attempt_id, agent, at)
        if disposer:
            await store.add_disposition(engine, attempt_id, "informado", agent=disposer, at=at)


async def test_campaign_xlsx_has_no_formula(engine: AsyncEngine, tmp_path: Path) -> None:
    await _load(engine, tmp_path)
    report = build_report(await store.load_state(engine, "2025-03"))
    assert {r.customer.name for r in report.detail} == {c[3] for c in CUSTOMERS}
    assert set(report.per_agent) == {"=SUM(A1:A9)", "\t=1+1", "-1+2"}
    out = tmp_path / "r.xlsx"
    write_xlsx(report, out)

    with zipfile.ZipFile(out) as book:
        for name in book.namelist():
            if name.startswith("xl/worksheets/"):
                xml = book.read(name)
                assert b"<f>" not in xml and b"<f " not in xml, name
    texts: set[str] = set()
    numbers = 0
    for ws in load_workbook(out).worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert cell.data_type == "s", (ws.title, cell.coordinate, cell.value)
                    assert cell.value[:1] not in TRIGGERS, (ws.title, cell.coordinate)
                    texts.add(cell.value)
                elif isinstance(cell.value, int | float):
                    numbers += 1
    names = {"'" + name for _, _, _, name in CUSTOMERS if name != "#N/A"} | {"#N/A"}
    assert names <= texts
    assert {"'-12-3", "'=SUM(A1:A9)", "'\t=1+1", "'-1+2"} <= texts
    assert numbers > 0  # the counts are still numbers
