"""Terminal table and JSON renderings of the indicator report."""

from __future__ import annotations

import json

from centralita.metrics.export_rows import legend_pairs, meta_pairs, summary_records
from centralita.metrics.service_level import (
    CUT_LABEL,
    DERIVED_LABEL,
    UNKNOWN_LABEL,
    Report,
    display_key,
    meets_text,
    percent_text,
)


def render_json(report: Report) -> str:
    """One object: the period and its metadata, the rules (machine keys), the records'
    provenance, the legend (Spanish rule/value pairs) and ``lines``, one object per group
    plus ``MEDIDOS`` (the measured services) and ``TOTAL`` (machine keys)."""
    prov = report.provenance
    doc = {
        "period": report.period.label,
        "tz": report.period.tz,
        "group_by": report.group_by,
        "source": report.source,
        "generated": report.generated_at.isoformat(timespec="seconds"),
        "version": report.software_version,
        "rules": report.rules.as_dict(),
        "provenance": None
        if prov is None
        else {
            "measured": prov.measured,
            "estimated": prov.estimated,
            "healed": prov.healed,
            "queue_log": prov.queue_log,
        },
        "legend": [{"rule": rule, "value": value} for rule, value in legend_pairs(report)],
        "lines": summary_records(report),
    }
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def render_table(report: Report) -> str:
    """The summary as a fixed-width Spanish table."""
    unit = "Servicio" if report.group_by == "service" else "Cola"
    thr = report.rules.threshold_s
    head = (
        f"{unit:<11} {'Nombre':<34} {'Medido':<9} {'Recib.':>7} {'Atend.':>7} "
        f"{f'<={thr}s':>7} {'Aband.':>7} {'Otras':>6} {'Cort.':>6} {'Desc.':>6} {'IVR':>5} "
        f"{'Desv.':>5} {'%':>6} {'Meta':>5} Cumple"
    )
    out = [f"Indicador ATT — {report.period.label_es}"]
    out += [f"{k}: {v}" for k, v in meta_pairs(report)]
    out += ["", head, "-" * len(head)]
    for line in [*report.lines, report.measured_total, report.total]:
        ind = line.indicator
        c = line.counts
        if line.key == "ALL":
            measured = ""
        elif line.key == "MEDIDOS":
            measured = ""
            out.append("-" * len(head))
        else:
            measured = "sí" if line.measured else "no medido"
        others = c.timeout + c.exit_with_key + c.exit_empty + c.other
        out.append(
            f"{display_key(line.key):<11} {line.name[:34]:<34} {measured:<9} {ind.received:>7} "
            f"{c.answered:>7} {c.answered_within:>7} {ind.abandoned_counted:>7} {others:>6} "
            f"{c.cut:>6} {c.unknown:>6} {c.ivr_hangups:>5} {c.ivr_derived:>5} "
            f"{percent_text(ind.sl_percent):>6} {report.rules.target_percent:>5g} "
            f"{meets_text(ind.meets)}"
        )
    out.append("")
    out.append(
        f"Cort. = {CUT_LABEL}; Desc. = {UNKNOWN_LABEL}; IVR = colgadas en el IVR; "
        f"Desv. = {DERIVED_LABEL}"
    )
    out.append("")
    out.append("Reglas de conteo:")
    out += [f"  {k}: {v}" for k, v in legend_pairs(report)]
    return "\n".join(out) + "\n"
