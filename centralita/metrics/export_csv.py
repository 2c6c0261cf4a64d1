"""CSV export for machines: the summary records, with the metadata as ``#`` comment lines.

``# clave: valor`` lines first (period, source, generation time, version, every rule,
the cut and unknown calls, the records' provenance, and the legend text as
``leyenda.NN`` lines), then a header of machine keys (:data:`SUMMARY_KEYS`) and one row
per group plus ``MEDIDOS`` and ``TOTAL``. Every text field goes through
:func:`metrics.cellsafe.protect_text` (OWASP CSV-injection rule), so no field a
spreadsheet opens starts a formula.
:func:`read_summary_csv` reads it back (the round trip is tested).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from centralita.metrics.cellsafe import protect_text, unprotect_text
from centralita.metrics.export_rows import SUMMARY_KEYS, legend_pairs, summary_records
from centralita.metrics.service_level import Report

_BOOL_KEYS = frozenset({"measured", "meets"})
_FLOAT_KEYS = frozenset({"sl_percent", "target_percent", "asa_s", "abandon_percent"})
_TEXT_KEYS = frozenset({"period", "group_by", "service", "name"})
_INT_KEYS = frozenset(SUMMARY_KEYS) - _TEXT_KEYS - _BOOL_KEYS - _FLOAT_KEYS


def _cell(value: Any) -> str:
    """One CSV field: texts made spreadsheet-safe (a formula-like text gets a quote in
    front), computed numbers written as numbers."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return protect_text(value)
    if isinstance(value, list | tuple):
        return protect_text(", ".join(str(item) for item in value))
    return str(value)


def csv_metadata(report: Report) -> dict[str, str]:
    """The ``#`` header lines as a mapping."""
    meta = {
        "periodo": report.period.label,
        "zona_horaria": report.period.tz,
        "agrupado_por": report.group_by,
        "fuente": report.source,
        "generado": report.generated_at.isoformat(timespec="seconds"),
        "version": report.software_version,
        "formula": "atendidas_dentro_umbral / recibidas * 100",
    }
    for key, value in report.rules.as_dict().items():
        meta[f"regla.{key}"] = _cell(value)
    totals = report.total.counts
    meta["cortadas"] = str(totals.cut)
    meta["desconocidas"] = str(totals.unknown)
    prov = report.provenance
    if prov is not None:
        meta["registros.medidos"] = str(prov.measured)
        meta["registros.estimados"] = str(prov.estimated)
        meta["registros.sanados"] = str(prov.healed)
        meta["registros.queue_log"] = str(prov.queue_log)
    for number, (rule, value) in enumerate(legend_pairs(report), 1):
        meta[f"leyenda.{number:02d}"] = f"{rule}: {value}".replace("\n", " ")
    return meta


def render_csv(report: Report) -> str:
    """The whole CSV text."""
    buf = io.StringIO()
    for key, value in csv_metadata(report).items():
        buf.write(f"# {key}: {value}\n")
    writer = csv.DictWriter(buf, fieldnames=list(SUMMARY_KEYS), lineterminator="\n")
    writer.writeheader()
    for record in summary_records(report):
        writer.writerow({k: _cell(record[k]) for k in SUMMARY_KEYS})
    return buf.getvalue()


def write_csv(report: Report, path: str | Path) -> None:
    """Write the CSV file (UTF-8)."""
    Path(path).write_text(render_csv(report), encoding="utf-8")


def _value(key: str, text: str) -> Any:
    if text == "":
        return None
    if key in _BOOL_KEYS:
        return text == "true"
    if key in _INT_KEYS:
        return int(text)
    if key in _FLOAT_KEYS:
        return float(text)
    return unprotect_text(text)


def read_summary_csv(text: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Parse a CSV written by :func:`render_csv`: (metadata, records)."""
    meta: dict[str, str] = {}
    body: list[str] = []
    for line in text.splitlines():
        if line.startswith("# "):
            key, _, value = line[2:].partition(": ")
            meta[key] = value
        else:
            body.append(line)
    reader = csv.DictReader(body)
    records = [{k: _value(k, v) for k, v in row.items()} for row in reader]
    return meta, records
