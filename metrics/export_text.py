"""Terminal table and JSON renderings of the indicator report."""

from __future__ import annotations

import json

from metrics.export_rows import meta_pairs, summary_records
from metrics.service_level import Report, legend_lines, meets_text, percent_text


def render_json(report: Report) -> str:
    """A list with one object per group plus the ``ALL`` object (machine keys)."""
    return json.dumps(summary_records(report), ensure_ascii=False, indent=2) + "\n"


def render_table(report: Report) -> str:
    """The summary as a fixed-width Spanish table."""
    unit = "Servicio" if report.group_by == "service" else "Cola"
    thr = report.rules.threshold_s
    head = (
        f"{unit:<11} {'Nombre':<34} {'Medido':<9} {'Recib.':>7} {'Atend.':>7} "
        f"{f'<={thr}s':>7} {'Aband.':>7} {'Otras':>6} {'IVR':>5} {'%':>6} {'Meta':>5} Cumple"
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
            f"{line.key:<11} {line.name[:34]:<34} {measured:<9} {ind.received:>7} "
            f"{c.answered:>7} {c.answered_within:>7} {ind.abandoned_counted:>7} {others:>6} "
            f"{c.ivr_hangups:>5} {percent_text(ind.sl_percent):>6} "
            f"{report.rules.target_percent:>5g} {meets_text(ind.meets)}"
        )
    out.append("")
    out.append("Reglas de conteo:")
    out += [f"  {k}: {v}" for k, v in legend_lines(report.rules)]
    return "\n".join(out) + "\n"
