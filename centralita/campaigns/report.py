"""The supervisor's effectiveness report (procedure K, last step): pure counting + rendering.

Procedure K ends: "Revisar en listado cantidad de clientes gestionados y efectividad de las
llamadas — gestión que se traducen en pagos efectivos". Per customer in the month's list:

- *gestionado*: at least one call attempt was made (attempts never sent do not count); the
  management date is the first attempt's date (La Paz);
- *contactado*: an agent talked to the customer — the call was answered *and* bridged to
  an agent (AgentConnect); an answered call nobody took is not a contact — and the agent
  did not record ``numero_equivocado``; the contact date is that answer's date;
- *informado*: contacted with disposition ``informado`` or ``promesa_pago``;
- *pagó tras la gestión*: managed, with a payment inside the campaign window on or after
  the management date;
- *pagó tras la llamada*: contacted, with a payment on or after the contact date;
- *pagó antes del contacto*: contacted, paid inside the window but only before the contact;
- control group: the customers of the list never called (*no gestionados*), and those of
  them who paid inside the window.

``efectividad = pagaron tras la gestión / gestionados × 100`` (the procedure's figure);
beside it ``efectividad sobre contactados = pagaron tras la llamada / contactados × 100``
and the control rate ``pagaron sin gestión / no gestionados × 100`` — not computable
(``None``, shown "no calculable") when every customer was called. Per agent, a customer
belongs to the agent who recorded the disposition of the contact (else the agent the call
was bridged to).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any, Final

from centralita.campaigns.model import (
    DISPOSITIONS,
    INFORMED,
    SERVICE_LABELS,
    SERVICES,
    Attempt,
    Customer,
)
from centralita.campaigns.scheduler import NOT_COUNTED, bridged
from centralita.campaigns.store import CampaignState
from centralita.campaigns.window import (
    DEFAULT_WINDOW_RULE,
    WindowRule,
    campaign_window,
    to_local,
)
from centralita.metrics.cellsafe import protect_xlsx_text

NO_AGENT: Final = "(sin agente)"


@dataclass
class Counts:
    """One line of the report."""

    en_lista: int = 0
    no_llamar: int = 0
    gestionados: int = 0
    contactados: int = 0
    informados: int = 0
    promesas: int = 0
    rechazos: int = 0
    numero_equivocado: int = 0
    pagaron_tras_gestion: int = 0
    pagaron_tras_llamada: int = 0
    pagaron_antes_del_contacto: int = 0
    no_gestionados: int = 0
    pagaron_sin_gestion: int = 0

    @property
    def efectividad_pct(self) -> float | None:
        """The procedure's effectiveness: managed customers who paid, over managed, in %."""
        return _pct(self.pagaron_tras_gestion, self.gestionados)

    @property
    def efectividad_contactados_pct(self) -> float | None:
        """Paid after the call over contacted (an agent talked to them), in percent."""
        return _pct(self.pagaron_tras_llamada, self.contactados)

    @property
    def tasa_control_pct(self) -> float | None:
        """Control group: paid over customers of the list never called, in percent; None
        (not computable) when every customer was called."""
        return _pct(self.pagaron_sin_gestion, self.no_gestionados)


def _pct(part: int, whole: int) -> float | None:
    return None if whole <= 0 else round(part * 100.0 / whole, 1)


@dataclass(frozen=True, slots=True)
class CustomerResult:
    """What happened with one customer (the report's detail line)."""

    customer: Customer
    attempts: int
    managed: bool
    managed_date: date | None
    contacted: bool
    contact_date: date | None
    disposition: str | None
    agent: str
    wrong_number: bool
    dnc: bool
    paid_on: date | None
    paid_after_management: bool
    paid_after: bool
    paid_before: bool
    paid_without_management: bool


@dataclass
class CampaignReport:
    """The month's report: per service, per agent, the total, and the detail."""

    month: str
    rule: WindowRule = DEFAULT_WINDOW_RULE
    per_service: dict[str, Counts] = field(default_factory=dict)
    per_agent: dict[str, Counts] = field(default_factory=dict)
    total: Counts = field(default_factory=Counts)
    detail: list[CustomerResult] = field(default_factory=list)


def _contact(tried: list[Attempt]) -> Attempt | None:
    for attempt in tried:
        if bridged(attempt) and attempt.disposition != "numero_equivocado":
            return attempt
    return None


def classify(state: CampaignState) -> list[CustomerResult]:
    """One result per customer of the list."""
    out: list[CustomerResult] = []
    block = state.blocklist
    for customer in state.customers:
        tried = state.attempts.get(customer.contract, [])
        counted = [a for a in tried if a.outcome not in NOT_COUNTED]
        contact = _contact(tried)
        wrong = [a for a in tried if a.disposition == "numero_equivocado"]
        contact_date = None
        agent = ""
        if contact is not None:
            contact_date = to_local(contact.result_at or contact.placed_at).date()
            agent = contact.disposition_agent or contact.agent or NO_AGENT
        elif wrong:
            agent = wrong[-1].disposition_agent or wrong[-1].agent or NO_AGENT
        managed_date = min(to_local(a.placed_at).date() for a in counted) if counted else None
        paid = state.payments.get(customer.contract, [])
        after = [d for d in paid if contact_date is not None and d >= contact_date]
        after_management = [d for d in paid if managed_date is not None and d >= managed_date]
        dnc = customer.contract in block.dnc_contracts or all(
            p in block.dnc_phones for p in customer.phones
        )
        out.append(
            CustomerResult(
                customer=customer,
                attempts=len(counted),
                managed=bool(counted),
                managed_date=managed_date,
                contacted=contact is not None,
                contact_date=contact_date,
                disposition=contact.disposition if contact is not None else None,
                agent=agent,
                wrong_number=bool(wrong) and contact is None,
                dnc=dnc,
                paid_on=(after or paid)[0] if paid else None,
                paid_after_management=bool(after_management),
                paid_after=bool(after),
                paid_before=contact is not None and bool(paid) and not after,
                paid_without_management=not counted and bool(paid),
            )
        )
    return out


def _add(counts: Counts, r: CustomerResult) -> None:
    counts.en_lista += 1
    counts.no_llamar += r.dnc
    counts.gestionados += r.managed
    counts.contactados += r.contacted
    counts.informados += r.disposition in INFORMED
    counts.promesas += r.disposition == "promesa_pago"
    counts.rechazos += r.disposition == "rechaza"
    counts.numero_equivocado += r.wrong_number
    counts.pagaron_tras_gestion += r.paid_after_management
    counts.pagaron_tras_llamada += r.paid_after
    counts.pagaron_antes_del_contacto += r.paid_before
    counts.no_gestionados += not r.managed
    counts.pagaron_sin_gestion += r.paid_without_management


def build_report(state: CampaignState, rule: WindowRule = DEFAULT_WINDOW_RULE) -> CampaignReport:
    """Count the month's campaign (`rule`: its window, as the state was loaded with)."""
    report = CampaignReport(month=state.campaign.month, rule=rule)
    report.per_service = {service: Counts() for service in SERVICES}
    for result in classify(state):
        report.detail.append(result)
        _add(report.total, result)
        _add(report.per_service[result.customer.service], result)
        if result.agent:
            _add(report.per_agent.setdefault(result.agent, Counts()), result)
    report.per_agent = dict(sorted(report.per_agent.items()))
    return report


# ------------------------------------------------------------------------ rendering
NOT_COMPUTABLE: Final = "no calculable"
"""Shown for a rate whose denominator is zero (e.g. the control group when all were called)."""

SERVICE_COLUMNS: Final = (
    ("en_lista", "En lista"),
    ("no_llamar", "No llamar"),
    ("gestionados", "Gestionados"),
    ("pagaron_tras_gestion", "Pagaron tras la gestión"),
    ("efectividad_pct", "Efectividad % (pagaron / gestionados)"),
    ("contactados", "Contactados"),
    ("informados", "Informados"),
    ("promesas", "Promesas de pago"),
    ("rechazos", "Rechazos"),
    ("numero_equivocado", "Número equivocado"),
    ("pagaron_tras_llamada", "Pagaron tras la llamada"),
    ("pagaron_antes_del_contacto", "Pagaron antes del contacto"),
    ("efectividad_contactados_pct", "Efectividad sobre contactados %"),
    ("no_gestionados", "No llamados (control)"),
    ("pagaron_sin_gestion", "Pagaron sin llamada (control)"),
    ("tasa_control_pct", "Pago del grupo de control %"),
)
AGENT_COLUMNS: Final = (
    ("contactados", "Contactados"),
    ("informados", "Informados"),
    ("promesas", "Promesas de pago"),
    ("rechazos", "Rechazos"),
    ("numero_equivocado", "Número equivocado"),
    ("pagaron_tras_llamada", "Pagaron tras la llamada"),
    ("efectividad_contactados_pct", "Efectividad sobre contactados %"),
)
LEGEND: Final = (
    "Gestionados: clientes de la lista con al menos un intento de llamada.",
    "Pagaron tras la gestión: gestionados con un pago en la ventana, en o después del "
    "primer intento.",
    "Efectividad % = pagaron tras la gestión / gestionados × 100 (gestiones que se "
    "traducen en pagos efectivos, procedimiento K).",
    "Contactados: un agente habló con el cliente (llamada contestada y conectada a un "
    "agente, sin 'número equivocado'); contestada sin agente no es contacto.",
    "Informados: contactados con resultado 'informado' o 'promete pagar'.",
    "Pagaron tras la llamada: contactados con un pago en o después de la fecha del contacto.",
    "Efectividad sobre contactados % = pagaron tras la llamada / contactados × 100.",
    "Grupo de control: clientes de la lista a los que no se llamó (no gestionados); "
    "Pago del grupo de control % = pagaron sin llamada / no llamados × 100.",
    f"'{NOT_COMPUTABLE}': el denominador es cero (por ejemplo, se llamó a toda la lista: "
    "no hay grupo de control).",
    "Por agente: el agente que registró el resultado de la llamada contestada.",
)


def _value(counts: Counts, name: str) -> Any:
    return getattr(counts, name)


def _fmt(value: Any) -> str:
    if value is None:
        return NOT_COMPUTABLE
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _table(title: str, first: str, rows: Iterable[tuple[str, Counts]], columns: Any) -> str:
    header = [first, *(label for _, label in columns)]
    body = [[name, *(_fmt(_value(c, key)) for key, _ in columns)] for name, c in rows]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = [title, ""]
    for row in [header, *body]:
        cells = [
            row[0].ljust(widths[0]),
            *(v.rjust(w) for v, w in zip(row[1:], widths[1:], strict=True)),
        ]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def render_table(report: CampaignReport) -> str:
    """The report as text for the terminal."""
    window = campaign_window(report.month, report.rule)
    services = [(SERVICE_LABELS[s], c) for s, c in report.per_service.items()]
    parts = [
        f"Campaña prepago {report.month} (llamadas del {window.first_day.isoformat()} "
        f"al {window.last_day.isoformat()})",
        "",
        _table("Por servicio", "Servicio", [*services, ("Total", report.total)], SERVICE_COLUMNS),
        "",
        _table("Por agente", "Agente", report.per_agent.items(), AGENT_COLUMNS),
        "",
        *LEGEND,
    ]
    return "\n".join(parts) + "\n"


def _append(ws: Any, values: Iterable[Any]) -> None:
    """Append a row whose texts are safe string cells, never formulas.

    A customer's name or contract, an agent's name come from outside: a text that looks
    like a formula gets a visible quote in front (:mod:`metrics.cellsafe`, as in every
    export) and every text cell is a string cell; counts and rates stay numbers.
    """
    ws.append([protect_xlsx_text(v) if isinstance(v, str) else v for v in values])
    for cell in ws[ws.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"


def write_xlsx(report: CampaignReport, path: Path) -> None:
    """The report as an Excel workbook: per service, per agent, detail, legend."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "Por servicio"
    bold = Font(bold=True)

    def table(ws: Any, first: str, rows: Iterable[tuple[str, Counts]], columns: Any) -> None:
        _append(ws, [first, *(label for _, label in columns)])
        for cell in ws[ws.max_row]:
            cell.font = bold
        for name, counts in rows:
            values = [_value(counts, key) for key, _ in columns]
            _append(ws, [name, *(NOT_COMPUTABLE if v is None else v for v in values)])

    services = [(SERVICE_LABELS[s], c) for s, c in report.per_service.items()]
    table(sheet, "Servicio", [*services, ("Total", report.total)], SERVICE_COLUMNS)
    table(book.create_sheet("Por agente"), "Agente", report.per_agent.items(), AGENT_COLUMNS)
    detail = book.create_sheet("Detalle")
    _append(
        detail,
        [
            "Contrato",
            "Nombre",
            "Servicio",
            "Vencimiento",
            "Intentos",
            "Gestionado",
            "Fecha gestión",
            "Contactado",
            "Fecha contacto",
            "Resultado",
            "Agente",
            "No llamar",
            "Fecha pago",
            "Pagó tras la gestión",
            "Pagó tras la llamada",
        ],
    )
    for cell in detail[1]:
        cell.font = bold
    for r in report.detail:
        _append(
            detail,
            [
                r.customer.contract,
                r.customer.name,
                SERVICE_LABELS[r.customer.service],
                r.customer.due_date.isoformat(),
                r.attempts,
                "sí" if r.managed else "no",
                r.managed_date.isoformat() if r.managed_date else "",
                "sí" if r.contacted else "no",
                r.contact_date.isoformat() if r.contact_date else "",
                DISPOSITIONS.get(r.disposition or "", r.disposition or "")
                or (DISPOSITIONS["numero_equivocado"] if r.wrong_number else ""),
                r.agent,
                "sí" if r.dnc else "no",
                r.paid_on.isoformat() if r.paid_on else "",
                "sí" if r.paid_after_management else "no",
                "sí" if r.paid_after else "no",
            ],
        )
    legend = book.create_sheet("Leyenda")
    _append(legend, [f"Campaña prepago {report.month}"])
    for line in LEGEND:
        _append(legend, [line])
    book.save(path)


def counts_as_dict(counts: Counts) -> dict[str, Any]:
    """Every count and rate by name (for JSON, tests)."""
    out: dict[str, Any] = {f.name: getattr(counts, f.name) for f in fields(counts)}
    out["efectividad_pct"] = counts.efectividad_pct
    out["efectividad_contactados_pct"] = counts.efectividad_contactados_pct
    out["tasa_control_pct"] = counts.tasa_control_pct
    return out
