"""Rows shared by every export: the summary records and the call-level audit detail."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from metrics.periods import local_text
from metrics.service_level import (
    CountingRules,
    Indicator,
    Line,
    Report,
    classify,
    legend_lines,
    meets_text,
    percent_text,
)

OUTCOME_ES: Final[dict[str, str]] = {
    "answered": "atendida",
    "transferred": "atendida (transferida)",
    "abandoned": "abandonada",
    "timeout": "tiempo de espera agotado",
    "exit-empty": "salida por cola vacía",
    "exit-with-key": "salida con tecla",
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
    "other",
    "ivr_hangups",
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
    "Colgadas en IVR",
    "No contadas",
    "% dentro del umbral",
    "Meta %",
    "Cumple",
)


def summary_headers_es(threshold_s: int) -> list[str]:
    """The Spanish summary headers with the threshold written in."""
    headers = list(SUMMARY_HEADERS_ES)
    headers[5] = f"Atendidas <= {threshold_s} s"
    headers[13] = f"% dentro de {threshold_s} s"
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
        "service": line.key,
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
        "other": c.other,
        "ivr_hangups": c.ivr_hangups,
        "not_counted": ind.not_counted,
        "sl_percent": _round(ind.sl_percent),
        "target_percent": report.rules.target_percent,
        "meets": ind.meets,
        "threshold_s": report.rules.threshold_s,
        "asa_s": _round(ind.asa_s),
        "abandon_percent": _round(ind.abandon_percent),
    }


def summary_records(report: Report) -> list[dict[str, Any]]:
    """Every line plus the ``ALL`` total."""
    return [summary_record(report, line) for line in [*report.lines, report.total]]


def summary_row_es(line: Line) -> list[Any]:
    """One line as the Spanish summary row (values, not text, for spreadsheets)."""
    ind = line.indicator
    c = line.counts
    sl = ind.sl_percent
    return [
        line.key if line.key != "ALL" else "TOTAL",
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
        c.ivr_hangups,
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
    """The legend (formula + rules)."""
    return legend_lines(rules)


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
)


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
        ("sí" if counts.answered_within else "no") if answered else "-",
        "sí" if counted else "no",
    ]


def pct(value: float | None) -> str:
    """Percent for text outputs."""
    return percent_text(value)
