"""Reconciliation: the AMI-derived calls against the queue_log ones, call by call.

Calls are matched by Uniqueid (= queue_log callid) within the month they entered the queue
(local time; a one-minute margin on both sides so that a call at the month's edge whose
two sources disagree by a second is still matched). Every difference is listed:

- ``falta_en_queue_log`` / ``falta_en_ami``: the call is in one source only;
- ``resultado``: different outcome (answered, abandoned, timeout, ...). A call the AMI saw
  transferred and queue_log answered is not a difference: a caller Redirected to an
  internal extension (the console's transfer) leaves no trace in queue_log;
- ``espera``: waits (Asterisk basis, whole seconds) differ by more than the tolerance;
- ``umbral``: one source counts the call within the threshold and the other does not;
- ``servicio`` / ``colas``: different service or queue path.

Each AMI record also has a provenance (``metrics.heal.provenance_of``): *measured* (every
value observed in AMI events), *estimated* (some value resynced after an outage, named in
``marks``), *healed* (estimated values replaced by queue_log's) or *queue_log* (a call the
AMI never saw, filled from queue_log). The counts, the differences and the still-estimated
records are shown apart per provenance, so the measured records can be told from the rest.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.schema import calls
from centralita.metrics.heal import provenance_of
from centralita.metrics.periods import Period, local_text
from centralita.metrics.schema import ql_calls
from centralita.metrics.service_level import CountingRules, wait_of, within_threshold

MARGIN_MS: Final = 60_000

KIND_LABELS: Final[dict[str, str]] = {
    "falta_en_queue_log": "llamada solo en AMI (falta en queue_log)",
    "falta_en_ami": "llamada solo en queue_log (falta en AMI)",
    "resultado": "resultado distinto",
    "espera": "espera distinta (más que la tolerancia)",
    "umbral": "distinta clasificación respecto del umbral",
    "servicio": "servicio distinto",
    "colas": "recorrido de colas distinto",
}
PROVENANCE_LABELS: Final[dict[str, str]] = {
    "measured": "medidos (observados en AMI)",
    "estimated": "con valores estimados (resincronización tras un corte)",
    "healed": "estimados y corregidos con queue_log",
    "queue_log": "completados desde queue_log (AMI no los vio)",
}


@dataclass(frozen=True)
class CallView:
    """The fields compared, for one call in one source."""

    uniqueid: str
    service: str
    queues: str
    entered_at_ms: int
    answered: bool
    outcome: str
    wait_asterisk_s: int | None
    wait_ms: int | None
    source: str = "ami"
    marks: str = ""

    @property
    def provenance(self) -> str:
        """measured, estimated, healed or queue_log (see the module doc)."""
        return provenance_of(self.source, self.marks)


@dataclass(frozen=True)
class Difference:
    """One difference between the two sources for one call."""

    uniqueid: str
    kind: str
    ami: str
    queue_log: str
    entered_at_ms: int
    provenance: str = "measured"  # of the AMI record ("" when the AMI has none)

    @property
    def label(self) -> str:
        """Spanish description of the kind."""
        return KIND_LABELS.get(self.kind, self.kind)


@dataclass
class ReconcileResult:
    """Outcome of a reconciliation."""

    period: Period
    ami_calls: int = 0
    queue_log_calls: int = 0
    matched: int = 0
    identical: int = 0
    differences: list[Difference] = field(default_factory=list)
    provenance: dict[str, int] = field(default_factory=dict)
    estimated: list[CallView] = field(default_factory=list)

    @property
    def by_kind(self) -> dict[str, int]:
        """Number of differences per kind."""
        return dict(Counter(d.kind for d in self.differences))

    @property
    def measured_differences(self) -> list[Difference]:
        """Differences of measured records (or of calls the AMI does not have)."""
        return [d for d in self.differences if d.provenance in ("measured", "")]

    @property
    def other_differences(self) -> list[Difference]:
        """Differences of estimated, healed or queue_log-filled records."""
        return [d for d in self.differences if d.provenance not in ("measured", "")]

    @property
    def clean(self) -> bool:
        """True when both sources agree on every call."""
        return not self.differences


def compare_calls(
    ami: dict[str, CallView],
    ql: dict[str, CallView],
    period: Period,
    rules: CountingRules,
    tolerance_s: int = 1,
) -> ReconcileResult:
    """Compare two sets of calls (pure); calls outside the period on both sides are ignored."""
    result = ReconcileResult(period)
    result.ami_calls = sum(1 for c in ami.values() if period.contains(c.entered_at_ms))
    result.provenance = dict(
        Counter(c.provenance for c in ami.values() if period.contains(c.entered_at_ms))
    )
    result.estimated = sorted(
        (
            c
            for c in ami.values()
            if c.provenance == "estimated" and period.contains(c.entered_at_ms)
        ),
        key=lambda c: (c.entered_at_ms, c.uniqueid),
    )
    result.queue_log_calls = sum(1 for c in ql.values() if period.contains(c.entered_at_ms))
    diffs = result.differences
    for uid in sorted(set(ami) | set(ql), key=lambda u: _entered(ami, ql, u)):
        a, q = ami.get(uid), ql.get(uid)
        in_period = any(c is not None and period.contains(c.entered_at_ms) for c in (a, q))
        if not in_period:
            continue
        if q is None:
            assert a is not None
            diffs.append(
                Difference(uid, "falta_en_queue_log", _brief(a), "", a.entered_at_ms, a.provenance)
            )
            continue
        if a is None:
            diffs.append(Difference(uid, "falta_en_ami", "", _brief(q), q.entered_at_ms, ""))
            continue
        result.matched += 1
        found = _compare_one(a, q, rules, tolerance_s)
        diffs.extend(found)
        if not found:
            result.identical += 1
    return result


def _entered(ami: dict[str, CallView], ql: dict[str, CallView], uid: str) -> tuple[int, str]:
    view = ami.get(uid) or ql[uid]
    return view.entered_at_ms, uid


def _brief(view: CallView) -> str:
    wait = "-" if view.wait_asterisk_s is None else f"{view.wait_asterisk_s} s"
    return f"{view.service} {view.queues} {view.outcome} espera {wait}"


def _compare_one(
    a: CallView, q: CallView, rules: CountingRules, tolerance_s: int
) -> list[Difference]:
    out: list[Difference] = []

    def add(kind: str, ami_value: object, ql_value: object) -> None:
        out.append(
            Difference(
                a.uniqueid, kind, str(ami_value), str(ql_value), a.entered_at_ms, a.provenance
            )
        )

    if a.outcome != q.outcome and (a.outcome, q.outcome) != ("transferred", "answered"):
        add("resultado", a.outcome, q.outcome)
    if a.service != q.service:
        add("servicio", a.service, q.service)
    if a.queues != q.queues:
        add("colas", a.queues, q.queues)
    aw, qw = a.wait_asterisk_s, q.wait_asterisk_s
    if (aw is None) != (qw is None) or (
        aw is not None and qw is not None and abs(aw - qw) > tolerance_s
    ):
        add("espera", f"{aw} s", f"{qw} s")
    if a.answered and q.answered:
        a_in = _within(a, rules)
        q_in = _within(q, rules)
        if a_in != q_in:
            add("umbral", "dentro" if a_in else "fuera", "dentro" if q_in else "fuera")
    return out


def _within(view: CallView, rules: CountingRules) -> bool:
    wait = wait_of(view.wait_asterisk_s, view.wait_ms, rules)
    return wait is not None and within_threshold(wait, rules)


async def _load(
    engine: AsyncEngine, table: sa.Table, period: Period, pbx_id: str | None
) -> dict[str, CallView]:
    conds: list[Any] = [
        table.c.entered_at_ms >= period.start_ms - MARGIN_MS,
        table.c.entered_at_ms < period.end_ms + MARGIN_MS,
    ]
    if pbx_id is not None:
        conds.append(table.c.pbx_id == pbx_id)
    columns = [
        table.c.uniqueid,
        table.c.service,
        table.c.queues,
        table.c.entered_at_ms,
        table.c.answered_at_ms,
        table.c.outcome,
        table.c.wait_asterisk_s,
        table.c.wait_ms,
    ]
    with_origin = "marks" in table.c  # the AMI records (queue_log calls have no marks)
    if with_origin:
        columns += [table.c.source, table.c.marks]
    stmt = sa.select(*columns).where(*conds)
    out: dict[str, CallView] = {}
    async with engine.connect() as conn:
        for row in await conn.execute(stmt):
            out[str(row.uniqueid)] = CallView(
                uniqueid=str(row.uniqueid),
                service=str(row.service),
                queues=str(row.queues),
                entered_at_ms=int(row.entered_at_ms),
                answered=row.answered_at_ms is not None,
                outcome=str(row.outcome),
                wait_asterisk_s=row.wait_asterisk_s,
                wait_ms=row.wait_ms,
                source=str(row.source) if with_origin else "queue_log",
                marks=str(row.marks or "") if with_origin else "",
            )
    return out


async def reconcile(
    engine: AsyncEngine,
    period: Period,
    *,
    rules: CountingRules | None = None,
    pbx_id: str | None = None,
    tolerance_s: int = 1,
) -> ReconcileResult:
    """Compare the AMI calls with the imported queue_log calls of a period."""
    rules = rules or CountingRules()
    ami = await _load(engine, calls, period, pbx_id)
    ql = await _load(engine, ql_calls, period, pbx_id)
    return compare_calls(ami, ql, period, rules, tolerance_s)


def render_text(result: ReconcileResult, tz: str) -> str:
    """The reconciliation as Spanish text for the terminal or an auditor."""
    lines = [
        f"Conciliación AMI vs queue_log — {result.period.label_es}",
        f"Llamadas en AMI: {result.ami_calls}   en queue_log: {result.queue_log_calls}   "
        f"emparejadas: {result.matched}   idénticas: {result.identical}",
    ]
    if any(result.provenance.get(k) for k in ("estimated", "healed", "queue_log")):
        lines.append("Registros AMI por origen:")
        for key, label in PROVENANCE_LABELS.items():
            lines.append(f"  {label}: {result.provenance.get(key, 0)}")
    if result.clean:
        lines.append("Sin diferencias: ambas fuentes coinciden llamada por llamada.")
    else:
        lines.append(f"Diferencias: {len(result.differences)}")
        for kind, count in sorted(result.by_kind.items()):
            lines.append(f"  {KIND_LABELS.get(kind, kind)}: {count}")
        measured, other = result.measured_differences, result.other_differences
        if measured:
            lines += ["", "Registros medidos:", *_diff_table(measured, tz, with_origin=False)]
        if other:
            lines += [
                "",
                "Registros estimados, corregidos o completados desde queue_log:",
                *_diff_table(other, tz, with_origin=True),
            ]
    if result.estimated:
        lines += ["", "Registros con valores estimados (no observados en AMI):"]
        lines.append(f"{'ingreso':19}  {'uniqueid':22}  valores estimados")
        for view in result.estimated:
            lines.append(
                f"{local_text(view.entered_at_ms, tz):19}  {view.uniqueid:22}  "
                f"{view.marks.replace(',', ', ')}"
            )
    return "\n".join(lines) + "\n"


def _diff_table(diffs: list[Difference], tz: str, *, with_origin: bool) -> list[str]:
    origin = "origen      " if with_origin else ""
    out = [f"{'ingreso':19}  {'uniqueid':22}  {origin}{'diferencia':42}  AMI | queue_log"]
    for diff in diffs:
        where = f"{diff.provenance:10}  " if with_origin else ""
        out.append(
            f"{local_text(diff.entered_at_ms, tz):19}  {diff.uniqueid:22}  {where}"
            f"{diff.label:42}  {diff.ami or '-'} | {diff.queue_log or '-'}"
        )
    return out
