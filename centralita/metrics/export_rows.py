"""Rows shared by every export: the summary records and the call-level audit detail."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from centralita.metrics.heal import provenance_of
from centralita.metrics.periods import local_text
from centralita.metrics.service_level import (
    CUT_LABEL,
    DERIVED_LABEL,
    UNKNOWN_LABEL,
    CountingRules,
    Indicator,
    Line,
    Report,
    classify,
    display_key,
    legend_lines,
    meets_text,
    percent_text,
    report_legend,
    wait_of,
)

OUTCOME_ES: Final[dict[str, str]] = {
    "answered": "atendida",
    "transferred": "atendida (transferida)",
    "abandoned": "abandonada",
    "timeout": "tiempo de espera agotado",
    "exit-empty": "salida por cola vacía",
    "exit-with-key": "salida con tecla",
    "cut": "cortada por caída de la central",
    "unknown": "resultado desconocido (corte de la conexión AMI)",
}

PROVENANCE_ES: Final[dict[str, str]] = {
    "measured": "medida (eventos AMI)",
    "estimated": "resincronizada, con valores estimados o desconocidos",
    "healed": "corregida desde queue_log",
    "queue_log": "completada desde queue_log",
}

SUMMARY_KEYS: Final[tuple[str, ...]] = (
    "period",
    "group_by",
    "service",
    "name",
    "measured",
    "received",
    "answered",
    "answered_within",
    "abandoned",
    "abandoned_short_excluded",
    "timeout",
    "exit_with_key",
    "exit_empty",
    "cut",
    "unknown",
    "other",
    "ivr_hangups",
    "ivr_derived",
    "not_counted",
    "sl_percent",
    "target_percent",
    "meets",
    "threshold_s",
    "asa_s",
    "abandon_percent",
)

SUMMARY_HEADERS_ES: Final[tuple[str, ...]] = (
    "Servicio",
    "Nombre",
    "Medido",
    "Recibidas",
    "Atendidas",
    "Atendidas <= umbral",
    "Abandonadas",
    "Abandonos cortos excluidos",
    "Tiempo agotado",
    "Salida con tecla",
    "Cola vacía",
    CUT_LABEL,
    UNKNOWN_LABEL,
    "Colgadas en IVR",
    DERIVED_LABEL,
    "No contadas",
    "% dentro del umbral",
    "Meta %",
    "Cumple",
)


def summary_headers_es(threshold_s: int) -> list[str]:
    """The Spanish summary headers with the threshold written in."""
    headers = list(SUMMARY_HEADERS_ES)
    headers[headers.index("Atendidas <= umbral")] = f"Atendidas <= {threshold_s} s"
    headers[headers.index("% dentro del umbral")] = f"% dentro de {threshold_s} s"
    return headers


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def summary_record(report: Report, line: Line) -> dict[str, Any]:
    """One line as a machine record (JSON / CSV keys)."""
    ind = line.indicator
    c = line.counts
    return {
        "period": report.period.label,
        "group_by": report.group_by,
        "service": display_key(line.key),
        "name": line.name,
        "measured": line.measured,
        "received": ind.received,
        "answered": c.answered,
        "answered_within": c.answered_within,
        "abandoned": ind.abandoned_counted,
        "abandoned_short_excluded": ind.short_excluded,
        "timeout": c.timeout,
        "exit_with_key": c.exit_with_key,
        "exit_empty": c.exit_empty,
        "cut": c.cut,
        "unknown": c.unknown,
        "other": c.other,
        "ivr_hangups": c.ivr_hangups,
        "ivr_derived": c.ivr_derived,
        "not_counted": ind.not_counted,
        "sl_percent": _round(ind.sl_percent),
        "target_percent": report.rules.target_percent,
        "meets": ind.meets,
        "threshold_s": report.rules.threshold_s,
        "asa_s": _round(ind.asa_s),
        "abandon_percent": _round(ind.abandon_percent),
    }


def summary_records(report: Report) -> list[dict[str, Any]]:
    """Every line, the measured subtotal (``MEDIDOS``) and the total (``TOTAL``)."""
    return [
        summary_record(report, line)
        for line in [*report.lines, report.measured_total, report.total]
    ]


def summary_row_es(line: Line) -> list[Any]:
    """One line as the Spanish summary row (values, not text, for spreadsheets)."""
    ind = line.indicator
    c = line.counts
    sl = ind.sl_percent
    return [
        display_key(line.key),
        line.name,
        "sí" if line.measured else "no medido" if line.key not in ("ALL", "MEDIDOS") else "",
        ind.received,
        c.answered,
        c.answered_within,
        ind.abandoned_counted,
        ind.short_excluded,
        c.timeout,
        c.exit_with_key,
        c.exit_empty,
        c.cut,
        c.unknown,
        c.ivr_hangups,
        c.ivr_derived,
        ind.not_counted,
        None if sl is None else round(sl, 1),
        line.rules.target_percent,
        meets_text(ind.meets),
    ]


def meta_pairs(report: Report) -> list[tuple[str, str]]:
    """Period, source, generation time and version, in Spanish."""
    source = "registros AMI de centralita" if report.source == "ami" else "queue_log importado"
    return [
        ("Período", f"{report.period.label} ({report.period.label_es}, {report.period.tz})"),
        ("Agrupado por", "servicio" if report.group_by == "service" else "cola"),
        ("Fuente de datos", source),
        (
            "Generado",
            report.generated_at.astimezone(report.period.zone).isoformat(timespec="seconds"),
        ),
        ("Versión del software", f"centralita {report.software_version}"),
    ]


def rules_pairs(rules: CountingRules) -> list[tuple[str, str]]:
    """The rules part of the legend (formula + rules)."""
    return legend_lines(rules)


def legend_pairs(report: Report) -> list[tuple[str, str]]:
    """The whole legend: rules in force, cut and unknown calls, record provenance."""
    return report_legend(report)


DETAIL_HEADERS_ES: Final[tuple[str, ...]] = (
    "Uniqueid",
    "Servicio",
    "Cola(s)",
    "Número llamante",
    "Ingreso a cola (hora local)",
    "Atención (hora local)",
    "Espera Asterisk (s)",
    "Espera exacta (s)",
    "Resultado",
    "Agente",
    "Dentro del umbral",
    "Cuenta en el indicador",
    "Procedencia",
    "Valores marcados",
)


def provenance_text(source: str, marks: str) -> str:
    """The provenance of one record in Spanish (empty for an imported queue_log)."""
    if not source:
        return ""
    return PROVENANCE_ES[provenance_of(source, marks)]


def detail_row_es(row: Mapping[str, Any], rules: CountingRules, tz: str) -> list[Any]:
    """One call of the audit detail, with how the rules counted it."""
    answered = row["answered_at_ms"] is not None
    counts = classify(
        answered=answered,
        outcome=str(row["outcome"] or ""),
        wait_asterisk_s=row["wait_asterisk_s"],
        wait_ms=row["wait_ms"],
        rules=rules,
    )
    counted = Indicator(counts, rules).received == 1
    wait_ms = row["wait_ms"]
    if not answered:
        within = "-"
    elif counts.answered_within:
        within = "sí"
    elif wait_of(row["wait_asterisk_s"], wait_ms, rules) is None:
        within = "espera desconocida: no cuenta como dentro"
    else:
        within = "no"
    source = str(row.get("source") or "")
    marks = str(row.get("marks") or "")
    return [
        row["uniqueid"],
        row["service"],
        row["queue"],
        row["caller_num"],
        local_text(row["entered_at_ms"], tz),
        local_text(row["answered_at_ms"], tz),
        row["wait_asterisk_s"],
        None if wait_ms is None else wait_ms / 1000,
        OUTCOME_ES.get(str(row["outcome"]), str(row["outcome"])),
        row["agent_name"],
        within,
        "sí" if counted else "no",
        provenance_text(source, marks),
        marks,
    ]


def pct(value: float | None) -> str:
    """Percent for text outputs."""
    return percent_text(value)
