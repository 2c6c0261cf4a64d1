"""The supervisor's effectiveness report (procedure K, last step): pure counting + rendering.

Per customer in the month's list:

- *gestionado*: at least one call attempt was made (attempts never sent do not count);
- *contactado*: a call was answered and the agent did not record ``numero_equivocado``;
  the contact date is that answer's date (La Paz);
- *informado*: contacted with disposition ``informado`` or ``promesa_pago``;
- *pagó tras la llamada*: contacted, with a payment on or after the contact date, inside
  the campaign window;
- *pagó antes del contacto*: contacted, paid inside the window but only before the contact;
- *pagó sin contacto* (control group): not contacted, with a payment inside the window.

``efectividad = pagaron tras la llamada / contactados × 100``; the control rate is
``pagaron sin contacto / (en lista − contactados) × 100``. Per agent, a customer belongs
to the agent who recorded the disposition of the answered call (else the agent the call
was connected to; else ``(sin agente)``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any, Final

from campaigns.model import INFORMED, SERVICE_LABELS, SERVICES, Attempt, Customer
from campaigns.scheduler import NOT_COUNTED
from campaigns.store import CampaignState
from campaigns.window import campaign_window, to_local

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
    pagaron_tras_llamada: int = 0
    pagaron_antes_del_contacto: int = 0
    pagaron_sin_contacto: int = 0

    @property
    def efectividad_pct(self) -> float | None:
        """Paid after the call over contacted, in percent."""
        return _pct(self.pagaron_tras_llamada, self.contactados)

    @property
    def tasa_control_pct(self) -> float | None:
        """Paid without contact over customers not contacted, in percent."""
        return _pct(self.pagaron_sin_contacto, self.en_lista - self.contactados)


def _pct(part: int, whole: int) -> float | None:
    return None if whole <= 0 else round(part * 100.0 / whole, 1)


@dataclass(frozen=True, slots=True)
class CustomerResult:
    """What happened with one customer (the report's detail line)."""

    customer: Customer
    attempts: int
    managed: bool
    contacted: bool
    contact_date: date | None
    disposition: str | None
    agent: str
    wrong_number: bool
    dnc: bool
    paid_on: date | None
    paid_after: bool
    paid_before: bool
    paid_without_contact: bool


@dataclass
class CampaignReport:
    """The month's report: per service, per agent, the total, and the detail."""

    month: str
    per_service: dict[str, Counts] = field(default_factory=dict)
    per_agent: dict[str, Counts] = field(default_factory=dict)
    total: Counts = field(default_factory=Counts)
    detail: list[CustomerResult] = field(default_factory=list)


def _contact(tried: list[Attempt]) -> Attempt | None:
    for attempt in tried:
        if attempt.outcome == "answered" and attempt.disposition != "numero_equivocado":
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
        paid = state.payments.get(customer.contract, [])
        after = [d for d in paid if contact_date is not None and d >= contact_date]
        dnc = customer.contract in block.dnc_contracts or all(
            p in block.dnc_phones for p in customer.phones
        )
        out.append(
            CustomerResult(
                customer=customer,
                attempts=len(counted),
                managed=bool(counted),
                contacted=contact is not None,
                contact_date=contact_date,
                disposition=contact.disposition if contact is not None else None,
                agent=agent,
                wrong_number=bool(wrong) and contact is None,
                dnc=dnc,
                paid_on=(after or paid)[0] if paid else None,
                paid_after=bool(after),
                paid_before=contact is not None and bool(paid) and not after,
                paid_without_contact=contact is None and bool(paid),
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
    counts.pagaron_tras_llamada += r.paid_after
    counts.pagaron_antes_del_contacto += r.paid_before
    counts.pagaron_sin_contacto += r.paid_without_contact


def build_report(state: CampaignState) -> CampaignReport:
    """Count the month's campaign."""
    report = CampaignReport(month=state.campaign.month)
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
SERVICE_COLUMNS: Final = (
    ("en_lista", "En lista"),
    ("no_llamar", "No llamar"),
    ("gestionados", "Gestionados"),
    ("contactados", "Contactados"),
    ("informados", "Informados"),
    ("promesas", "Promesas de pago"),
    ("rechazos", "Rechazos"),
    ("numero_equivocado", "Número equivocado"),
    ("pagaron_tras_llamada", "Pagaron tras la llamada"),
    ("pagaron_antes_del_contacto", "Pagaron antes del contacto"),
    ("pagaron_sin_contacto", "Pagaron sin contacto (control)"),
    ("efectividad_pct", "Efectividad %"),
    ("tasa_control_pct", "Pago sin contacto %"),
)
AGENT_COLUMNS: Final = (
    ("contactados", "Contactados"),
    ("informados", "Informados"),
    ("promesas", "Promesas de pago"),
    ("rechazos", "Rechazos"),
    ("numero_equivocado", "Número equivocado"),
    ("pagaron_tras_llamada", "Pagaron tras la llamada"),
    ("efectividad_pct", "Efectividad %"),
)
LEGEND: Final = (
    "Gestionados: clientes con al menos un intento de llamada.",
    "Contactados: llamada contestada por el cliente (sin 'número equivocado').",
    "Informados: contactados con resultado 'informado' o 'promete pagar'.",
    "Pagaron tras la llamada: contactados con un pago en o después de la fecha del contacto.",
    "Pagaron sin contacto: clientes no contactados que pagaron dentro de la ventana (control).",
    "Efectividad % = pagaron tras la llamada / contactados × 100.",
    "Pago sin contacto % = pagaron sin contacto / (en lista − contactados) × 100.",
    "Por agente: el agente que registró el resultado de la llamada contestada.",
)


def _value(counts: Counts, name: str) -> Any:
    return getattr(counts, name)


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
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
    window = campaign_window(report.month)
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


def write_xlsx(report: CampaignReport, path: Path) -> None:
    """The report as an Excel workbook: per service, per agent, detail, legend."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "Por servicio"
    bold = Font(bold=True)

    def table(ws: Any, first: str, rows: Iterable[tuple[str, Counts]], columns: Any) -> None:
        ws.append([first, *(label for _, label in columns)])
        for cell in ws[ws.max_row]:
            cell.font = bold
        for name, counts in rows:
            ws.append([name, *(_value(counts, key) for key, _ in columns)])

    services = [(SERVICE_LABELS[s], c) for s, c in report.per_service.items()]
    table(sheet, "Servicio", [*services, ("Total", report.total)], SERVICE_COLUMNS)
    table(book.create_sheet("Por agente"), "Agente", report.per_agent.items(), AGENT_COLUMNS)
    detail = book.create_sheet("Detalle")
    detail.append(
        [
            "Contrato",
            "Nombre",
            "Servicio",
            "Vencimiento",
            "Intentos",
            "Contactado",
            "Fecha contacto",
            "Resultado",
            "Agente",
            "No llamar",
            "Fecha pago",
            "Pagó tras la llamada",
        ]
    )
    for cell in detail[1]:
        cell.font = bold
    for r in report.detail:
        detail.append(
            [
                r.customer.contract,
                r.customer.name,
                SERVICE_LABELS[r.customer.service],
                r.customer.due_date.isoformat(),
                r.attempts,
                "sí" if r.contacted else "no",
                r.contact_date.isoformat() if r.contact_date else "",
                r.disposition or ("numero_equivocado" if r.wrong_number else ""),
                r.agent,
                "sí" if r.dnc else "no",
                r.paid_on.isoformat() if r.paid_on else "",
                "sí" if r.paid_after else "no",
            ]
        )
    legend = book.create_sheet("Leyenda")
    legend.append([f"Campaña prepago {report.month}"])
    for line in LEGEND:
        legend.append([line])
    book.save(path)


def counts_as_dict(counts: Counts) -> dict[str, Any]:
    """Every count and rate by name (for JSON, tests)."""
    out: dict[str, Any] = {f.name: getattr(counts, f.name) for f in fields(counts)}
    out["efectividad_pct"] = counts.efectividad_pct
    out["tasa_control_pct"] = counts.tasa_control_pct
    return out
