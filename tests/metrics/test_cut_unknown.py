"""Cut and unknown calls, NULL waits and the records' provenance in the indicator and in
every export, on SQLite and PostgreSQL.

The month holds, for service 101: four measured answered calls (three within 20 s), one
answered call whose wait is unknown, one healed answered call, one abandon filled from
queue_log, one abandon whose wait is unknown, two calls cut by a PBX crash and one call of
unknown outcome; for service 104 one cut call.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.schema import calls, queue_entries
from centralita.cli import main
from centralita.metrics.export_csv import read_summary_csv, render_csv
from centralita.metrics.export_pdf import write_pdf
from centralita.metrics.export_rows import detail_row_es, legend_pairs
from centralita.metrics.export_text import render_json, render_table
from centralita.metrics.export_xlsx import write_xlsx
from centralita.metrics.periods import Period
from centralita.metrics.queries import (
    UNKNOWN_WAIT_BAND,
    ReportRequest,
    fetch_wait_bands,
    iter_detail,
    monthly_report,
)
from centralita.metrics.service_level import (
    CUT_LABEL,
    UNKNOWN_LABEL,
    CountingRules,
    Counts,
    Report,
    classify,
)
from centralita.metrics.supervisor import supervisor_report

LA_PAZ = ZoneInfo("America/La_Paz")
NOV = Period.month("2026-11")
BASE_MS = int(datetime(2026, 11, 10, 9, 0, tzinfo=LA_PAZ).timestamp() * 1000)
PBX = "t"


def row(
    uid: str,
    outcome: str,
    wait_ms: int | None,
    *,
    service: str = "101",
    marks: str = "",
    source: str = "ami",
    offset_s: int = 0,
) -> dict[str, Any]:
    """A calls row; a None wait leaves the answer/end times as the tracker does."""
    answered = outcome in ("answered", "transferred")
    entered = BASE_MS + offset_s * 1000
    if answered:
        answered_at: int | None = entered + (wait_ms if wait_ms is not None else 7_000)
    else:
        answered_at = None
    ended = None if wait_ms is None and not answered else entered + (wait_ms or 0) + 30_000
    return {
        "pbx_id": PBX,
        "uniqueid": uid,
        "linkedid": uid,
        "service": service,
        "exten": service,
        "queue": f"q{service}",
        "queues": f"q{service}",
        "caller_num": "71234567",
        "caller_name": "",
        "entered_at_ms": entered,
        "answered_at_ms": answered_at,
        "ended_at_ms": ended,
        "wait_ms": wait_ms,
        "wait_asterisk_s": None if wait_ms is None else wait_ms // 1000,
        "talk_ms": 30_000 if answered else None,
        "agent_name": "Agent 1" if answered else "",
        "outcome": outcome,
        "resynced": bool(marks),
        "gap": outcome in ("cut", "unknown"),
        "source": source,
        "marks": marks,
    }


ROWS = [
    row("a1", "answered", 5_000, offset_s=1),
    row("a2", "answered", 5_000, offset_s=2),
    row("a3", "answered", 5_000, offset_s=3),
    row("a4", "answered", 25_000, offset_s=4),
    row("a5", "answered", None, marks="entered_at", offset_s=5),
    row("h1", "answered", 8_000, marks="healed", offset_s=6),
    row("q1", "abandoned", 3_000, source="queue_log", offset_s=7),
    row("n1", "abandoned", None, marks="entered_at", offset_s=8),
    row("c1", "cut", None, marks="ended_at", offset_s=9),
    row("c2", "cut", None, marks="ended_at", offset_s=10),
    row("u1", "unknown", None, marks="left_at,outcome,ended_at", offset_s=11),
    row("c3", "cut", None, service="104", marks="ended_at", offset_s=12),
]


def entry_rows() -> list[dict[str, Any]]:
    """One queue stay per call, with the call's outcome (the per-queue grouping)."""
    return [
        {
            "pbx_id": PBX,
            "uniqueid": r["uniqueid"],
            "seq": 0,
            "queue": r["queue"],
            "service": r["service"],
            "entered_at_ms": r["entered_at_ms"],
            "left_at_ms": r["answered_at_ms"] or r["ended_at_ms"],
            "answered_at_ms": r["answered_at_ms"],
            "outcome": r["outcome"],
            "wait_ms": r["wait_ms"],
            "wait_asterisk_s": r["wait_asterisk_s"],
        }
        for r in ROWS
    ]


async def load(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.insert(calls), ROWS)
        await conn.execute(sa.insert(queue_entries), entry_rows())


async def report_of(engine: AsyncEngine, rules: CountingRules, by: Any = "service") -> Report:
    return await monthly_report(engine, ReportRequest(NOV, rules, by))


@pytest.fixture
async def month(any_engine: AsyncEngine) -> AsyncEngine:
    await load(any_engine)
    return any_engine


async def test_cut_counts_by_the_rule_and_unknown_always(month: AsyncEngine):
    on = await report_of(month, CountingRules())
    line = on.line("101")
    c = line.counts
    assert (c.answered, c.answered_within, c.abandoned, c.cut, c.unknown) == (6, 4, 2, 2, 1)
    assert c.answered_wait_unknown == 1
    ind = line.indicator
    assert ind.received == 11
    assert ind.not_counted == 0
    assert ind.sl_percent == pytest.approx(400 / 11)
    # ASA over the five answered calls whose wait is known: (5+5+5+25+8)/5.
    assert ind.asa_s == pytest.approx(9.6)
    assert on.line("104").indicator.received == 1
    assert on.line("104").indicator.sl_percent == 0.0
    assert (on.total.counts.cut, on.total.counts.unknown) == (3, 1)
    assert on.measured_total.counts.cut == 3

    off = await report_of(month, CountingRules(count_cut=False))
    ind = off.line("101").indicator
    assert ind.received == 9
    assert ind.not_counted == 2
    assert ind.sl_percent == pytest.approx(400 / 9)
    # The cut call is still shown, only outside the denominator.
    assert off.line("104").counts.cut == 1
    assert off.line("104").indicator.received == 0
    assert off.line("104").indicator.sl_percent is None


async def test_null_waits_are_never_classified_by_a_guess(month: AsyncEngine):
    exact = (await report_of(month, CountingRules(wait_basis="exact"))).line("101").counts
    assert exact.answered_within == 4
    short = await report_of(month, CountingRules(short_abandon_s=5))
    ind = short.line("101").indicator
    # q1 waited 3 s: excluded; n1's wait is unknown: kept.
    assert (ind.short_excluded, ind.abandoned_counted) == (1, 1)
    async with month.connect() as conn:
        bands = await fetch_wait_bands(conn, ReportRequest(NOV, CountingRules()))
    unknown = {(key, ans): n for key, band, ans, n in bands if band == UNKNOWN_WAIT_BAND}
    assert unknown == {("101", True): 1, ("101", False): 4, ("104", False): 1}


@pytest.mark.parametrize(
    "rules",
    [
        CountingRules(),
        CountingRules(wait_basis="exact", short_abandon_s=5, count_cut=False),
        CountingRules(threshold_s=4, short_abandon_s=10),
    ],
)
async def test_sql_counts_equal_the_per_call_reference(month: AsyncEngine, rules: CountingRules):
    expected: dict[str, Counts] = {}
    for r in ROWS:
        one = classify(
            answered=r["answered_at_ms"] is not None,
            outcome=r["outcome"],
            wait_asterisk_s=r["wait_asterisk_s"],
            wait_ms=r["wait_ms"],
            rules=rules,
        )
        expected.setdefault(r["service"], Counts()).add(one)
    for by in ("service", "queue"):
        report = await report_of(month, rules, by)
        got = {line.key: line.counts for line in report.lines if line.counts.entered}
        want = expected if by == "service" else {f"q{k}": v for k, v in expected.items()}
        assert got == want


async def test_detail_rows_show_cut_unknown_and_provenance(month: AsyncEngine):
    for by in ("service", "queue"):
        for rules in (CountingRules(), CountingRules(count_cut=False)):
            request = ReportRequest(NOV, rules, by)
            async with month.connect() as conn:
                rows = {r["uniqueid"]: r async for r in iter_detail(conn, request)}
            detail = {uid: detail_row_es(r, rules, NOV.tz) for uid, r in rows.items()}
            assert detail["c1"][8] == "cortada por caída de la central"
            assert detail["c1"][11] == ("sí" if rules.count_cut else "no")
            assert detail["u1"][8] == "resultado desconocido (corte de la conexión AMI)"
            assert detail["u1"][11] == "sí"
            assert detail["a5"][10] == "espera desconocida: no cuenta como dentro"
            assert detail["a4"][10] == "no"
            assert detail["a1"][12:] == ["medida (eventos AMI)", ""]
            assert detail["h1"][12] == "corregida desde queue_log"
            assert detail["q1"][12] == "completada desde queue_log"
            assert detail["u1"][12:] == [
                "resincronizada, con valores estimados o desconocidos",
                "left_at,outcome,ended_at",
            ]


async def test_provenance_and_cut_rule_in_the_legend(month: AsyncEngine):
    report = await report_of(month, CountingRules())
    prov = report.provenance
    assert prov is not None
    assert (prov.measured, prov.estimated, prov.healed, prov.queue_log) == (4, 6, 1, 1)
    legend = dict(legend_pairs(report))
    assert legend[f"{CUT_LABEL} cuentan como no atendidas"].startswith("sí")
    assert legend[f"{CUT_LABEL} en el período"] == (
        "3: cuentan como no atendidas en el total de registradas"
    )
    assert legend[f"{UNKNOWN_LABEL} en el período"].startswith("1: ")
    assert legend["Procedencia de los registros"] == (
        "12 llamadas: 4 medidas en los eventos AMI, 1 completadas desde queue_log (sanado), "
        "1 corregidas desde queue_log tras una resincronización, 6 con valores "
        "resincronizados estimados o desconocidos"
    )
    assert "Resincronización" in legend
    assert "queue_log" in legend["Sanado desde queue_log"]
    off = dict(legend_pairs(await report_of(month, CountingRules(count_cut=False))))
    assert off[f"{CUT_LABEL} cuentan como no atendidas"].startswith("no")
    assert off[f"{CUT_LABEL} en el período"].startswith("3: no cuentan")


def pdf_text(path: Path) -> str:
    """The text shown by a reportlab PDF: the string operands of ``Tj`` in its content
    streams (ASCII85 + Flate, as reportlab writes them), in order."""
    data = path.read_bytes()
    parts: list[str] = []
    for match in re.finditer(rb"stream\r?\n(.*?)endstream", data, re.S):
        raw = match.group(1).strip()
        if not raw.endswith(b"~>"):
            continue
        try:
            content = zlib.decompress(base64.a85decode(raw[:-2], ignorechars=b" \t\n\r\x0b"))
        except (ValueError, zlib.error):
            continue
        for literal in re.findall(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", content, re.S):
            text = re.sub(
                rb"\\([0-7]{1,3}|.)",
                lambda m: bytes([int(m.group(1), 8)]) if m.group(1)[:1].isdigit() else m.group(1),
                literal,
            )
            parts.append(text.decode("cp1252"))
    return " ".join(" ".join(parts).split())


async def test_every_export_carries_the_lines_and_the_legend(month: AsyncEngine, tmp_path: Path):
    rules = CountingRules(count_cut=False)
    report = await report_of(month, rules)
    cut_line = (
        f"{CUT_LABEL} en el período: 3: no cuentan en el total de registradas (figuran en "
        "«No contadas»)"
    )

    meta, records = read_summary_csv(render_csv(report))
    assert meta["regla.count_cut"] == "false"
    assert (meta["cortadas"], meta["desconocidas"]) == ("3", "1")
    assert [meta[f"registros.{k}"] for k in ("medidos", "estimados", "sanados", "queue_log")] == [
        "4",
        "6",
        "1",
        "1",
    ]
    legend_values = [v for k, v in meta.items() if k.startswith("leyenda.")]
    assert cut_line in legend_values
    assert any(v.startswith(f"{UNKNOWN_LABEL} en el período: 1:") for v in legend_values)
    by_key = {r["service"]: r for r in records}
    assert (by_key["101"]["cut"], by_key["101"]["unknown"], by_key["101"]["received"]) == (
        2,
        1,
        9,
    )
    assert by_key["TOTAL"]["not_counted"] == 3

    doc = json.loads(render_json(report))
    assert doc["rules"]["count_cut"] is False
    assert doc["provenance"] == {"measured": 4, "estimated": 6, "healed": 1, "queue_log": 1}
    assert {"rule": f"{CUT_LABEL} en el período", "value": cut_line.split(": ", 1)[1]} in doc[
        "legend"
    ]
    lines = {obj["service"]: obj for obj in doc["lines"]}
    assert (lines["104"]["cut"], lines["104"]["received"], lines["104"]["sl_percent"]) == (
        1,
        0,
        None,
    )

    table = render_table(report)
    assert f"Cort. = {CUT_LABEL}; Desc. = {UNKNOWN_LABEL}" in table
    assert cut_line in table
    total = next(t for t in table.splitlines() if t.startswith("TOTAL "))
    assert total.split()[-7:-5] == ["3", "1"]  # Cort. and Desc. columns

    xlsx = tmp_path / "r.xlsx"
    async with month.connect() as conn:
        written = await write_xlsx(report, xlsx, iter_detail(conn, ReportRequest(NOV, rules)))
    assert written == len(ROWS)
    wb = load_workbook(xlsx, read_only=True)
    summary = [list(r) for r in wb["Resumen"].iter_rows(values_only=True)]
    header = next(r for r in summary if r and r[0] == "Servicio")
    total_row = next(r for r in summary if r and r[0] == "TOTAL")
    assert total_row[header.index(CUT_LABEL)] == 3
    assert total_row[header.index(UNKNOWN_LABEL)] == 1
    legend = {r[0]: r[1] for r in wb["Leyenda"].iter_rows(values_only=True) if len(r) > 1}
    assert legend[f"{CUT_LABEL} en el período"] == cut_line.split(": ", 1)[1]
    assert legend["Procedencia de los registros"].startswith("12 llamadas: 4 medidas")
    daily = [list(r) for r in wb["Servicio 101"].iter_rows(values_only=True)]
    daily_header = next(r for r in daily if r and r[0] == "Día")
    month_row = next(r for r in daily if r and r[0] == "Total del mes")
    assert month_row[daily_header.index(CUT_LABEL)] == 2
    detail = list(wb["Detalle"].iter_rows(values_only=True))
    outcomes = [r[8] for r in detail[1:]]
    assert outcomes.count("cortada por caída de la central") == 3
    wb.close()

    pdf = tmp_path / "r.pdf"
    write_pdf(report, pdf)
    text = pdf_text(pdf)
    assert "Reglas de conteo en vigor" in text
    assert "3: no cuentan en el total de registradas" in text
    assert "12 llamadas: 4 medidas en los eventos AMI" in text


async def test_supervisor_report_with_null_waits(month: AsyncEngine):
    sup = await supervisor_report(month, NOV, CountingRules())
    assert sup.wait_bands["ALL"][UNKNOWN_WAIT_BAND] == (1, 5)
    assert sum(a for a, _ in sup.wait_bands["ALL"].values()) == 6
    callbacks = {cb.outcome for cb in sup.callbacks}
    assert "cortada por caída de la central" in callbacks
    assert sup.report.line("101").indicator.asa_s == pytest.approx(9.6)


async def test_report_cli_no_cut(month: AsyncEngine, db_url: str, tmp_path: Path):
    out = tmp_path / "r.json"
    args = ["report", "--month", "2026-11", "--db", db_url, "--format", "json"]
    assert await asyncio.to_thread(main, [*args, "--no-cut", "--out", str(out)]) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["rules"]["count_cut"] is False
    lines = {obj["service"]: obj for obj in doc["lines"]}
    assert (lines["101"]["received"], lines["101"]["not_counted"]) == (9, 2)
    assert await asyncio.to_thread(main, [*args, "--out", str(out)]) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["rules"]["count_cut"] is True
    assert {obj["service"]: obj for obj in doc["lines"]}["101"]["received"] == 11
