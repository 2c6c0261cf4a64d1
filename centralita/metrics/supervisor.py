"""Supervisor reports to run the floor: ASA, abandonment, wait distribution, agents,
busiest hours and the abandoned callers to call back (same data as the indicator)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.metrics.export_rows import OUTCOME_ES
from centralita.metrics.periods import Period, local_text
from centralita.metrics.queries import (
    UNKNOWN_WAIT_BAND,
    WAIT_BANDS,
    ReportRequest,
    Source,
    fetch_agents,
    fetch_wait_bands,
    iter_detail,
    monthly_report,
)
from centralita.metrics.service_level import (
    ALL_KEY,
    CountingRules,
    GroupBy,
    Indicator,
    Report,
    percent_text,
)

MAX_CALLBACKS = 5000


@dataclass(frozen=True)
class AgentStats:
    """Answered calls and talk time of one agent."""

    agent: str
    calls: int  # answered queue stays: a transferred call counts for each agent
    talk_s: float
    avg_talk_s: float  # over the stays whose talk is known
    avg_wait_s: float


@dataclass(frozen=True)
class Callback:
    """An abandoned caller to call back."""

    caller_num: str
    service: str
    queue: str
    entered_at: str
    wait_s: int | None
    outcome: str
    called_again_answered: bool


@dataclass
class SupervisorReport:
    """All floor figures of one period."""

    report: Report
    wait_bands: dict[str, dict[str, tuple[int, int]]]  # group -> band -> (answered, not)
    agents: list[AgentStats]
    busiest_hours: list[tuple[int, int]]  # (hour of day, calls entered), busiest first
    callbacks: list[Callback]


async def supervisor_report(
    engine: AsyncEngine,
    period: Period,
    rules: CountingRules,
    *,
    by: GroupBy = "service",
    source: Source = "ami",
    pbx_id: str | None = None,
    names: Mapping[str, str] | None = None,
    software_version: str = "",
) -> SupervisorReport:
    """Query every supervisor figure for a day or a month."""
    request = ReportRequest(period, rules, by, source, pbx_id)
    report = await monthly_report(
        engine,
        request,
        names=names,
        software_version=software_version,
        generated_at=datetime.now(UTC),
    )
    call_request = ReportRequest(period, rules, "service", source, pbx_id)
    async with engine.connect() as conn:
        band_rows = await fetch_wait_bands(conn, request)
        agent_rows = await fetch_agents(conn, call_request)
        unanswered = [row async for row in iter_detail(conn, call_request, only_unanswered=True)]
        answered_later = await _answered_after(conn, call_request, unanswered)
    bands: dict[str, dict[str, tuple[int, int]]] = {}
    labels = [*(label for label, _ in WAIT_BANDS), UNKNOWN_WAIT_BAND]
    for key, band, answered, count in band_rows:
        for group in (key, ALL_KEY):
            per = bands.setdefault(group, dict.fromkeys(labels, (0, 0)))
            a, n = per[band]
            per[band] = (a + count, n) if answered else (a, n + count)
    agents = [
        AgentStats(
            agent=name or "(sin agente)",
            calls=n,
            talk_s=talk / 1000,
            avg_talk_s=talk / known / 1000 if known else 0.0,
            avg_wait_s=wait / n / 1000 if n else 0.0,
        )
        for name, n, talk, wait, known in agent_rows
    ]
    hours = report.hourly.get(ALL_KEY, {})
    busiest = sorted(((h, c.entered) for h, c in hours.items()), key=lambda x: (-x[1], x[0]))
    callbacks = [
        Callback(
            caller_num=str(row["caller_num"]),
            service=str(row["service"]),
            queue=str(row["queue"]),
            entered_at=local_text(row["entered_at_ms"], period.tz),
            wait_s=row["wait_asterisk_s"],
            outcome=OUTCOME_ES.get(str(row["outcome"]), str(row["outcome"])),
            called_again_answered=answered_later.get(str(row["caller_num"]), 0)
            > int(row["entered_at_ms"]),
        )
        for row in unanswered[:MAX_CALLBACKS]
    ]
    return SupervisorReport(report, bands, agents, busiest, callbacks)


async def _answered_after(
    conn: Any, request: ReportRequest, rows: list[dict[str, Any]]
) -> dict[str, int]:
    """Latest answered entry time per caller number among the abandoned callers."""
    import sqlalchemy as sa

    from centralita.metrics.queries import table_for

    numbers = sorted({str(r["caller_num"]) for r in rows if r["caller_num"]})
    table = table_for(request.source, "service")
    latest: dict[str, int] = {}
    for start in range(0, len(numbers), 500):
        chunk = numbers[start : start + 500]
        result = await conn.execute(
            sa.select(table.c.caller_num, sa.func.max(table.c.entered_at_ms).label("latest"))
            .where(
                table.c.caller_num.in_(chunk),
                table.c.answered_at_ms.is_not(None),
                table.c.entered_at_ms >= request.period.start_ms,
                table.c.entered_at_ms < request.period.end_ms,
            )
            .group_by(table.c.caller_num)
        )
        latest.update({str(r.caller_num): int(r.latest) for r in result})
    return latest


AGENT_RULE: Final = (
    "Agentes",
    "cada tramo de cola atendido cuenta para su agente, con su propia conversación; una"
    " llamada transferida cuenta para cada agente que la atendió; promedio de conversación"
    " sobre los tramos cuya duración se conoce",
)


def supervisor_legend(sup: SupervisorReport) -> list[tuple[str, str]]:
    """The counting rules of the floor report: the indicator's legend and the agents' rule."""
    from centralita.metrics.export_rows import legend_pairs

    return [*legend_pairs(sup.report), AGENT_RULE]


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def render_supervisor_text(sup: SupervisorReport) -> str:
    """The floor report as Spanish text."""
    report = sup.report
    out = [f"Reporte de supervisión — {report.period.label_es}", ""]
    unit = "Servicio" if report.group_by == "service" else "Cola"
    out.append(
        f"{unit:<12} {'Entraron':>8} {'Atend.':>7} {'% dentro':>9} {'TMR (ASA)':>10} "
        f"{'% abandono':>11}"
    )
    for line in [*report.lines, report.total]:
        ind = line.indicator
        out.append(
            f"{line.key:<12} {line.counts.entered:>8} {line.counts.answered:>7} "
            f"{percent_text(ind.sl_percent):>9} {_secs(ind.asa_s):>10} "
            f"{percent_text(ind.abandon_percent):>11}"
        )
    out += ["", "Distribución del tiempo de espera (todas): atendidas / no atendidas"]
    for label, (answered, not_answered) in sup.wait_bands.get(ALL_KEY, {}).items():
        out.append(f"  {label:<8} {answered:>7} / {not_answered}")
    out += [
        "",
        "Agentes: llamadas atendidas, tiempo de conversación (una llamada transferida cuenta",
        "para cada agente que la atendió, con su propia parte de la conversación)",
    ]
    for agent in sup.agents:
        out.append(
            f"  {agent.agent:<24} {agent.calls:>6} llamadas  {agent.talk_s / 60:>8.1f} min  "
            f"promedio {agent.avg_talk_s:.0f} s"
        )
    out += ["", "Horas con más llamadas (hora local)"]
    for hour, calls in sup.busiest_hours[:5]:
        out.append(f"  {hour:02d}:00-{hour:02d}:59  {calls} llamadas")
    out += ["", "Llamantes no atendidos para devolver la llamada"]
    for cb in sup.callbacks:
        again = "  (volvió a llamar y fue atendido)" if cb.called_again_answered else ""
        wait = "-" if cb.wait_s is None else f"{cb.wait_s} s"
        out.append(
            f"  {cb.entered_at}  {cb.caller_num:<12} servicio {cb.service:<10} {cb.outcome} "
            f"tras {wait}{again}"
        )
    out += ["", "Reglas de conteo"]
    out += [f"  {rule}: {value}" for rule, value in supervisor_legend(sup)]
    return "\n".join(out) + "\n"


def render_supervisor_json(sup: SupervisorReport) -> str:
    """The floor report for machines."""
    report = sup.report
    doc = {
        "period": report.period.label,
        "groups": [
            {
                "key": line.key,
                "entered": line.counts.entered,
                "answered": line.counts.answered,
                "sl_percent": Indicator(line.counts, report.rules).sl_percent,
                "asa_s": line.indicator.asa_s,
                "abandon_percent": line.indicator.abandon_percent,
            }
            for line in [*report.lines, report.total]
        ],
        "wait_bands": {
            group: {band: {"answered": a, "not_answered": n} for band, (a, n) in per.items()}
            for group, per in sup.wait_bands.items()
        },
        "agents": [agent.__dict__ for agent in sup.agents],
        "busiest_hours": [{"hour": h, "calls": c} for h, c in sup.busiest_hours],
        "callbacks": [cb.__dict__ for cb in sup.callbacks],
        "legend": [{"rule": rule, "value": value} for rule, value in supervisor_legend(sup)],
    }
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
