"""PDF regulator export (reportlab): the summary, the legend and, for each measured
service, a chart of the daily % within the threshold against the target line.

Page 1 (landscape A4): title, period, source, generation time and version, the summary
table and the rules. Then one page per measured service with its chart (blue: daily %,
red: the target) and its daily table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing, String
from reportlab.graphics.widgets.markers import makeMarker
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from centralita.metrics.export_rows import (
    legend_pairs,
    meta_pairs,
    summary_headers_es,
    summary_row_es,
)
from centralita.metrics.service_level import Counts, Indicator, Line, Report, meets_text

SERIES_COLOR = colors.HexColor("#1F4E9E")
TARGET_COLOR = colors.HexColor("#D62728")


def _table(rows: list[list[Any]], widths: list[float] | None = None) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), "Helvetica", 7),
                ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 7),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#DDEBF7")),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    return table


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def daily_points(report: Report, line: Line) -> list[tuple[float, float]]:
    """(day of month, % within the threshold) for every day with calls."""
    points: list[tuple[float, float]] = []
    days = report.daily.get(line.key, {})
    for day in report.period.dates():
        counts = days.get(day)
        if counts is None:
            continue
        sl = Indicator(counts, report.rules).sl_percent
        if sl is not None:
            points.append((day.day, round(sl, 1)))
    return points


def chart(report: Report, line: Line, width: float = 24 * cm, height: float = 9 * cm) -> Drawing:
    """Daily % within the threshold (blue) against the target (red) for one service."""
    drawing = Drawing(width, height)
    plot = LinePlot()
    plot.x, plot.y = 1.5 * cm, 1.2 * cm
    plot.width, plot.height = width - 2.5 * cm, height - 2.2 * cm
    points = daily_points(report, line)
    target = report.rules.target_percent
    last_day = report.period.days
    data: list[list[tuple[float, float]]] = [
        [(1, target), (last_day, target)],
        points or [(1, 0.0)],
    ]
    plot.data = data
    plot.lines[0].strokeColor = TARGET_COLOR
    plot.lines[0].strokeWidth = 2
    plot.lines[0].strokeDashArray = [6, 3]
    plot.lines[1].strokeColor = SERIES_COLOR if points else colors.white
    plot.lines[1].strokeWidth = 1.5
    plot.lines[1].symbol = makeMarker("FilledCircle", size=4, fillColor=SERIES_COLOR)
    plot.xValueAxis.valueMin = 1
    plot.xValueAxis.valueMax = last_day
    plot.xValueAxis.valueSteps = list(range(1, last_day + 1))
    plot.xValueAxis.labels.fontSize = 6
    plot.yValueAxis.valueMin = 0
    plot.yValueAxis.valueMax = 100
    plot.yValueAxis.valueSteps = [0, 20, 40, 60, 80, 100]
    plot.yValueAxis.labels.fontSize = 7
    drawing.add(plot)
    drawing.add(
        String(
            1.5 * cm,
            height - 0.6 * cm,
            f"{line.key} {line.name}: % diario de llamadas atendidas dentro de "
            f"{report.rules.threshold_s} s (azul) y meta {target:g} % (rojo)",
            fontSize=9,
        )
    )
    drawing.add(String(width / 2, 0.2 * cm, "día del mes", fontSize=7, textAnchor="middle"))
    if not points:
        drawing.add(
            String(
                width / 2,
                height / 2,
                "sin llamadas en el período",
                fontSize=10,
                textAnchor="middle",
            )
        )
    return drawing


def _daily_table(report: Report, line: Line) -> Table:
    rows: list[list[Any]] = [
        [
            "Día",
            "Recibidas",
            "Atendidas",
            f"<= {report.rules.threshold_s} s",
            "Abandonadas",
            "Otras",
            "Cortadas",
            "Desconocidas",
            "%",
            "Cumple",
        ]
    ]
    days = report.daily.get(line.key, {})
    for day in report.period.dates():
        counts = days.get(day)
        if counts is None:
            continue
        rows.append(_daily_row(day.isoformat(), counts, report))
    rows.append(_daily_row("Mes", line.counts, report))
    return _table(rows)


def _daily_row(label: str, counts: Counts, report: Report) -> list[Any]:
    ind = Indicator(counts, report.rules)
    sl = ind.sl_percent
    return [
        label,
        ind.received,
        counts.answered,
        counts.answered_within,
        ind.abandoned_counted,
        counts.timeout + counts.exit_empty + counts.exit_with_key + counts.other,
        counts.cut,
        counts.unknown,
        "-" if sl is None else f"{sl:.1f}",
        meets_text(ind.meets),
    ]


def write_pdf(report: Report, path: str | Path) -> int:
    """Write the PDF; returns the number of charts drawn."""
    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("small", fontSize=7.5, leading=9)
    doc = SimpleDocTemplate(
        str(path),
        pagesize=landscape(A4),
        leftMargin=1.2 * cm,
        rightMargin=1.2 * cm,
        topMargin=1.0 * cm,
        bottomMargin=1.0 * cm,
        title=f"Indicador ATT {report.period.label}",
        author="centralita",
        subject="Reporte mensual para la ATT",
    )
    story: list[Any] = [
        Paragraph(
            f"Indicador ATT de atención oportuna — {report.period.label_es}", styles["Title"]
        ),
        Paragraph(" · ".join(f"<b>{k}</b>: {v}" for k, v in meta_pairs(report)), small),
        Spacer(1, 0.3 * cm),
    ]
    headers = summary_headers_es(report.rules.threshold_s)
    rows: list[list[Any]] = [[Paragraph(f"<b>{h}</b>", small) for h in headers]]
    for line in [*report.lines, report.measured_total, report.total]:
        rows.append([_cell(v) for v in summary_row_es(line)])
    story.append(_table(rows))
    story.append(Spacer(1, 0.3 * cm))
    story.append(Paragraph("<b>Reglas de conteo en vigor</b>", small))
    for key, value in legend_pairs(report):
        story.append(Paragraph(f"<b>{escape(key)}</b>: {escape(value)}", small))
    charts = 0
    for line in report.measured_lines:
        story.append(PageBreak())
        story.append(chart(report, line))
        story.append(Spacer(1, 0.3 * cm))
        story.append(_daily_table(report, line))
        charts += 1
    doc.build(story)
    return charts
