"""XLSX regulator export (openpyxl, write-only so that a month of calls streams).

Sheets: ``Resumen`` (one row per service, the measured subtotal and the total, plus the
period, rules, generation time and version), one ``Servicio <n>`` sheet per measured
service with the daily breakdown, ``Por hora`` (hour of day), ``Detalle`` (one row per
call, for audit; continued on ``Detalle 2``... past Excel's row limit) and ``Leyenda``
(formula and every counting rule in force).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill

from metrics.export_rows import (
    DETAIL_HEADERS_ES,
    detail_row_es,
    meta_pairs,
    summary_headers_es,
    summary_row_es,
)
from metrics.service_level import Counts, Indicator, Report, legend_lines, meets_text

MAX_ROWS = 1_048_576
_BOLD = Font(bold=True)
_HEAD_FILL = PatternFill("solid", fgColor="DDEBF7")


def _header(ws: Any, values: list[str] | tuple[str, ...]) -> list[Any]:
    cells = []
    for value in values:
        cell = WriteOnlyCell(ws, value=value)
        cell.font = _BOLD
        cell.fill = _HEAD_FILL
        cells.append(cell)
    return cells


def _title(ws: Any, text: str) -> list[Any]:
    cell = WriteOnlyCell(ws, value=text)
    cell.font = Font(bold=True, size=14)
    return [cell]


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
        counts.ivr_hangups,
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
        "Colgadas en IVR",
        f"% dentro de {report.rules.threshold_s} s",
        "Meta %",
        "Cumple",
    )


def _summary_sheet(wb: Workbook, report: Report) -> None:
    ws = wb.create_sheet("Resumen")
    ws.append(_title(ws, f"Indicador ATT de atención oportuna — {report.period.label_es}"))
    for key, value in meta_pairs(report):
        ws.append([key, value])
    ws.append([])
    ws.append(_header(ws, summary_headers_es(report.rules.threshold_s)))
    for line in [*report.lines, report.measured_total, report.total]:
        ws.append(summary_row_es(line))
    ws.append([])
    ws.append(
        [
            "Fórmula",
            f"% = atendidas dentro de {report.rules.threshold_s} s / recibidas × 100; "
            "ver la hoja Leyenda para cada regla de conteo",
        ]
    )
    ws.column_dimensions["A"].width = 14
    ws.column_dimensions["B"].width = 40


def _service_sheets(wb: Workbook, report: Report) -> None:
    for line in report.measured_lines:
        ws = wb.create_sheet(f"Servicio {line.key}"[:31])
        ws.append(_title(ws, f"{line.key} — {line.name}: detalle diario"))
        ws.append(["Período", report.period.label])
        ws.append([])
        ws.append(_header(ws, _breakdown_header("Día", report)))
        days: Mapping[Any, Counts] = report.daily.get(line.key, {})
        for day in report.period.dates():
            counts = days.get(day, Counts())
            ws.append(_counts_row(day.isoformat(), counts, report))
        ws.append(_counts_row("Total del mes", line.counts, report))


def _hourly_sheet(wb: Workbook, report: Report) -> None:
    ws = wb.create_sheet("Por hora")
    ws.append(_title(ws, "Todas las llamadas por hora del día (hora local)"))
    ws.append([])
    ws.append(_header(ws, _breakdown_header("Hora", report)))
    hours = report.hourly.get("ALL", {})
    for hour in range(24):
        ws.append(_counts_row(f"{hour:02d}:00", hours.get(hour, Counts()), report))


async def _detail_sheets(
    wb: Workbook, report: Report, detail: AsyncIterable[Mapping[str, Any]]
) -> int:
    index = 1
    ws = wb.create_sheet("Detalle")
    ws.append(_header(ws, DETAIL_HEADERS_ES))
    rows_in_sheet = 1
    total = 0
    tz, rules = report.period.tz, report.rules
    async for row in detail:
        if rows_in_sheet >= MAX_ROWS:
            index += 1
            ws = wb.create_sheet(f"Detalle {index}")
            ws.append(_header(ws, DETAIL_HEADERS_ES))
            rows_in_sheet = 1
        # An empty text is left out as an empty cell: openpyxl writes nothing for None,
        # and every cell costs (unanswered calls have no answer time nor agent).
        ws.append([None if value == "" else value for value in detail_row_es(row, rules, tz)])
        rows_in_sheet += 1
        total += 1
    return total


def _legend_sheet(wb: Workbook, report: Report) -> None:
    ws = wb.create_sheet("Leyenda")
    ws.append(_title(ws, "Leyenda: fórmula y reglas de conteo en vigor"))
    ws.append([])
    ws.append(_header(ws, ["Regla", "Valor"]))
    for key, value in legend_lines(report.rules):
        ws.append([key, value])
    ws.append([])
    for key, value in meta_pairs(report):
        ws.append([key, value])
    ws.append([])
    ws.append(
        [
            "Llamadas no ocultas",
            "Toda llamada que llegó a la central figura en alguna columna: las no contadas "
            "por una regla aparecen en «No contadas» y en la hoja Detalle.",
        ]
    )
    ws.column_dimensions["A"].width = 45
    ws.column_dimensions["B"].width = 110


async def write_xlsx(
    report: Report, path: str | Path, detail: AsyncIterable[Mapping[str, Any]]
) -> int:
    """Write the workbook; returns the number of detail rows written."""
    wb = Workbook(write_only=True)
    _summary_sheet(wb, report)
    _service_sheets(wb, report)
    _hourly_sheet(wb, report)
    rows = await _detail_sheets(wb, report, detail)
    _legend_sheet(wb, report)
    wb.save(str(path))
    return rows
