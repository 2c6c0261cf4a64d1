"""XLSX regulator export, streamed (:mod:`metrics.xlsx_stream`) so that a month of calls
takes seconds and little memory.

Sheets: ``Resumen`` (one row per service, the measured subtotal and the total, plus the
period, rules, generation time and version), one ``Servicio <n>`` sheet per measured
service with the daily breakdown, ``Por hora`` (hour of day), ``Detalle`` (one row per
call, for audit; continued on ``Detalle 2``... past Excel's row limit) and ``Leyenda``
(formula and every counting rule in force).

Every text cell is a string cell made safe by :func:`metrics.cellsafe.protect_xlsx_text`
(the writer applies it to every text and cannot write a formula): a caller number, an
agent or service name that looks like a formula is written with a visible quote in front
(as in the CSV); computed numbers stay numbers.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping
from pathlib import Path
from typing import Any

from centralita.metrics import xlsx_stream
from centralita.metrics.export_rows import (
    DETAIL_HEADERS_ES,
    detail_row_es,
    legend_pairs,
    meta_pairs,
    summary_headers_es,
    summary_row_es,
)
from centralita.metrics.service_level import (
    CUT_LABEL,
    DERIVED_LABEL,
    UNKNOWN_LABEL,
    Counts,
    Indicator,
    Report,
    meets_text,
)
from centralita.metrics.xlsx_stream import HEADER, TITLE, Sheet, XlsxStream

MAX_ROWS = xlsx_stream.MAX_ROWS
"""Rows per detail sheet (Excel's limit): the detail continues on a next sheet past it."""


def _counts_row(label: Any, counts: Counts, report: Report) -> list[Any]:
    ind = Indicator(counts, report.rules)
    sl = ind.sl_percent
    return [
        label,
        ind.received,
        counts.answered,
        counts.answered_within,
        ind.abandoned_counted,
        counts.timeout + counts.exit_with_key + counts.exit_empty + counts.other,
        counts.cut,
        counts.unknown,
        counts.ivr_hangups,
        counts.ivr_derived,
        None if sl is None else round(sl, 1),
        report.rules.target_percent,
        meets_text(ind.meets),
    ]


def _breakdown_header(first: str, report: Report) -> tuple[str, ...]:
    return (
        first,
        "Recibidas",
        "Atendidas",
        f"Atendidas <= {report.rules.threshold_s} s",
        "Abandonadas",
        "Otras no atendidas",
        CUT_LABEL,
        UNKNOWN_LABEL,
        "Colgadas en IVR",
        DERIVED_LABEL,
        f"% dentro de {report.rules.threshold_s} s",
        "Meta %",
        "Cumple",
    )


def _summary_sheet(book: XlsxStream, report: Report) -> None:
    ws = book.sheet("Resumen", widths={0: 14, 1: 40})
    ws.row([f"Indicador ATT de atención oportuna — {report.period.label_es}"], TITLE)
    ws.rows_of(meta_pairs(report))
    ws.row()
    ws.row(summary_headers_es(report.rules.threshold_s), HEADER)
    ws.rows_of(
        summary_row_es(line) for line in [*report.lines, report.measured_total, report.total]
    )
    ws.row()
    ws.row(
        [
            "Fórmula",
            f"% = atendidas dentro de {report.rules.threshold_s} s / recibidas × 100; "
            "ver la hoja Leyenda para cada regla de conteo",
        ]
    )


def _service_sheets(book: XlsxStream, report: Report) -> None:
    for line in report.measured_lines:
        ws = book.sheet(f"Servicio {line.key}"[:31])
        ws.row([f"{line.key} — {line.name}: detalle diario"], TITLE)
        ws.row(["Período", report.period.label])
        ws.row()
        ws.row(_breakdown_header("Día", report), HEADER)
        days: Mapping[Any, Counts] = report.daily.get(line.key, {})
        for day in report.period.dates():
            ws.row(_counts_row(day.isoformat(), days.get(day, Counts()), report))
        ws.row(_counts_row("Total del mes", line.counts, report))


def _hourly_sheet(book: XlsxStream, report: Report) -> None:
    ws = book.sheet("Por hora")
    ws.row(["Todas las llamadas por hora del día (hora local)"], TITLE)
    ws.row()
    ws.row(_breakdown_header("Hora", report), HEADER)
    hours = report.hourly.get("ALL", {})
    for hour in range(24):
        ws.row(_counts_row(f"{hour:02d}:00", hours.get(hour, Counts()), report))


def _detail_sheet(book: XlsxStream, index: int) -> Sheet:
    ws = book.sheet("Detalle" if index == 1 else f"Detalle {index}", max_rows=MAX_ROWS)
    ws.row(DETAIL_HEADERS_ES, HEADER)
    return ws


async def _detail_sheets(
    book: XlsxStream, report: Report, detail: AsyncIterable[Mapping[str, Any]]
) -> int:
    index = 1
    ws = _detail_sheet(book, index)
    total = 0
    tz, rules = report.period.tz, report.rules
    row = ws.row
    async for call in detail:
        if ws.full:  # Excel's row limit (or the sheet's size): continue on the next sheet
            index += 1
            ws = _detail_sheet(book, index)
            row = ws.row
        # The caller number, agent and queue are the caller's and the configuration's:
        # the writer makes every text safe.
        row(detail_row_es(call, rules, tz))
        total += 1
    return total


def _legend_sheet(book: XlsxStream, report: Report) -> None:
    ws = book.sheet("Leyenda", widths={0: 45, 1: 110})
    ws.row(["Leyenda: fórmula y reglas de conteo en vigor"], TITLE)
    ws.row()
    ws.row(["Regla", "Valor"], HEADER)
    ws.rows_of(legend_pairs(report))
    ws.row()
    ws.rows_of(meta_pairs(report))
    ws.row()
    ws.row(
        [
            "Llamadas no ocultas",
            "Toda llamada que llegó a la central figura en alguna columna: las no "
            "contadas por una regla aparecen en «No contadas» y en la hoja Detalle.",
        ]
    )


async def write_xlsx(
    report: Report, path: str | Path, detail: AsyncIterable[Mapping[str, Any]]
) -> int:
    """Write the workbook; returns the number of detail rows written."""
    with XlsxStream(path) as book:
        _summary_sheet(book, report)
        _service_sheets(book, report)
        _hourly_sheet(book, report)
        rows = await _detail_sheets(book, report, detail)
        _legend_sheet(book, report)
    return rows
