"""The supervisor's files: the campaign list, the do-not-call list and the payments.

Every file is validated whole first; when a line is wrong the error names each bad line
and its reason (``línea 14: teléfono "12ab" inválido``) and nothing is imported. A valid
file is written in one transaction.

Campaign list columns (any order, Spanish or English names):
    contrato, telefonos, servicio, nombre, vencimiento
``telefonos`` holds one or more numbers separated by ``;`` ``/`` or ``|``; ``servicio`` is
TV Cable or Internet; ``vencimiento`` is the due date, in the campaign's month.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.campaigns.csvfile import (
    Columns,
    parse_contract,
    parse_date,
    parse_phone,
    read_rows,
    simplify,
)
from centralita.campaigns.exceptions import CsvRowsError
from centralita.campaigns.model import SCRIPT_ID, Customer, Service
from centralita.campaigns.schema import (
    campaigns,
    customers_in_list,
    do_not_call,
    payments,
)
from centralita.campaigns.store import first_key
from centralita.campaigns.window import month_of, parse_month
from centralita.ivr.csvtext import RowError

CUSTOMER_COLUMNS: Final = Columns(
    required={
        "contrato": ("contract", "nro_contrato", "numero_contrato"),
        "telefonos": ("telefono", "phone", "phones", "celular", "telefonos_contacto"),
        "servicio": ("service", "producto"),
        "nombre": ("name", "cliente", "nombre_cliente"),
        "vencimiento": ("due_date", "fecha_vencimiento", "fecha_de_vencimiento"),
    },
    optional={},
)
DNC_COLUMNS: Final = Columns(
    required={},
    optional={
        "telefono": ("phone", "telefonos", "numero"),
        "contrato": ("contract",),
        "motivo": ("reason", "observacion"),
    },
)
PAYMENT_COLUMNS: Final = Columns(
    required={
        "contrato": ("contract",),
        "fecha_pago": ("fecha", "paid_on", "date", "fecha_de_pago"),
    },
    optional={
        "monto": ("amount", "importe"),
        "referencia": ("reference", "recibo", "comprobante"),
    },
)

_SERVICES: Final[dict[str, Service]] = {
    "tv_cable": "tv_cable",
    "tv": "tv_cable",
    "cable": "tv_cable",
    "tvcable": "tv_cable",
    "catv": "tv_cable",
    "television": "tv_cable",
    "television_por_cable": "tv_cable",
    "tv_por_cable": "tv_cable",
    "internet": "internet",
}
_CHUNK = 500


def parse_service(raw: str) -> Service:
    """``TV Cable``, ``tv_cable``, ``Televisión por Cable``… or ``Internet``; else ValueError."""
    found = _SERVICES.get(simplify(raw).replace(".", ""))
    if found is None:
        raise ValueError(f'servicio "{raw.strip()}" desconocido (TV Cable o Internet)')
    return found


def _phones(raw: str) -> tuple[str, ...]:
    parts = [p for p in re.split(r"[;/|]", raw) if p.strip()]
    if not parts:
        raise ValueError("sin teléfono")
    phones: list[str] = []
    for part in parts:
        phone = parse_phone(part)
        if phone not in phones:
            phones.append(phone)
    return tuple(phones)


@dataclass(frozen=True, slots=True)
class ListLine:
    """A validated line of the campaign list."""

    line: int
    customer: Customer


def parse_customer_list(path: Path, month: str | None = None) -> tuple[str, list[ListLine]]:
    """Validate a campaign list; return its month and its lines, or raise with every error.

    Without `month`, the campaign month is the month of the due dates (all lines must agree).
    """
    rows = read_rows(path, CUSTOMER_COLUMNS)
    good: list[ListLine] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        reasons: list[str] = []
        contract = name = ""
        service: Service | None = None
        phones: tuple[str, ...] = ()
        due: date | None = None
        try:
            contract = parse_contract(row["contrato"])
        except ValueError as exc:
            reasons.append(str(exc))
        try:
            phones = _phones(row["telefonos"])
        except ValueError as exc:
            reasons.append(str(exc))
        try:
            service = parse_service(row["servicio"])
        except ValueError as exc:
            reasons.append(str(exc))
        name = row["nombre"].strip()
        if not name or len(name) > 200:
            reasons.append("nombre vacío o de más de 200 caracteres")
        try:
            due = parse_date(row["vencimiento"], "fecha de vencimiento")
        except ValueError as exc:
            reasons.append(str(exc))
        if contract:
            first = seen.setdefault(contract, line)
            if first != line:
                reasons.append(f"contrato {contract} duplicado (ya en la línea {first})")
        if reasons or service is None or due is None:
            errors.append(RowError(line, "; ".join(reasons)))
            continue
        good.append(ListLine(line, Customer(contract, name, service, phones, due)))
    if month is None and good:
        month = Counter(month_of(g.customer.due_date) for g in good).most_common(1)[0][0]
    if month is not None:
        parse_month(month)
        for item in good:
            if month_of(item.customer.due_date) != month:
                errors.append(
                    RowError(
                        item.line,
                        f"vencimiento {item.customer.due_date.isoformat()} fuera del mes"
                        f" de la campaña {month}",
                    )
                )
    if errors:
        raise CsvRowsError(sorted(errors, key=lambda e: e.line))
    if month is None:
        raise CsvRowsError([RowError(1, "el archivo no tiene clientes")])
    return month, good


@dataclass(frozen=True, slots=True)
class ListImported:
    """What a campaign-list import wrote."""

    month: str
    campaign_id: int
    customers: int
    by_service: dict[str, int]
    on_dnc: int


async def import_customer_list(
    engine: AsyncEngine, path: Path, *, month: str | None, now_ms: int
) -> ListImported:
    """Validate `path` and add its customers to the month's campaign, all or nothing.

    A contract already in that campaign is a line error (nothing is imported).
    """
    month, lines = parse_customer_list(path, month)
    async with engine.begin() as conn:
        campaign_id = await conn.scalar(sa.select(campaigns.c.id).where(campaigns.c.month == month))
        if campaign_id is None:
            inserted = await conn.execute(
                sa.insert(campaigns).values(
                    month=month, status="active", script_id=SCRIPT_ID, created_ms=now_ms
                )
            )
            campaign_id = first_key(inserted)
        existing = set(
            (
                await conn.scalars(
                    sa.select(customers_in_list.c.contract).where(
                        customers_in_list.c.campaign_id == campaign_id
                    )
                )
            ).all()
        )
        clashes = [
            RowError(item.line, f"contrato {item.customer.contract} ya está en la campaña {month}")
            for item in lines
            if item.customer.contract in existing
        ]
        if clashes:
            raise CsvRowsError(clashes)
        rows = [
            {
                "campaign_id": campaign_id,
                "contract": item.customer.contract,
                "name": item.customer.name,
                "service": item.customer.service,
                "phones": ";".join(item.customer.phones),
                "due_date": item.customer.due_date.isoformat(),
                "source_line": item.line,
            }
            for item in lines
        ]
        for start in range(0, len(rows), _CHUNK):
            await conn.execute(sa.insert(customers_in_list), rows[start : start + _CHUNK])
        dnc_rows = (await conn.execute(sa.select(do_not_call.c.kind, do_not_call.c.value))).all()
    dnc_phones = {v for k, v in dnc_rows if k == "phone"}
    dnc_contracts = {v for k, v in dnc_rows if k == "contract"}
    on_dnc = sum(
        1
        for item in lines
        if item.customer.contract in dnc_contracts
        or all(p in dnc_phones for p in item.customer.phones)
    )
    by_service: Counter[str] = Counter(item.customer.service for item in lines)
    return ListImported(month, int(campaign_id), len(lines), dict(by_service), on_dnc)


@dataclass(frozen=True, slots=True)
class DncLine:
    """A validated do-not-call line: a phone, a contract, or both."""

    line: int
    phone: str
    contract: str
    reason: str


def parse_dnc(path: Path) -> list[DncLine]:
    """Validate a do-not-call file (columns telefono and/or contrato, [motivo])."""
    rows = read_rows(path, DNC_COLUMNS)
    good: list[DncLine] = []
    errors: list[RowError] = []
    for line, row in rows:
        reasons: list[str] = []
        phone = contract = ""
        if row.get("telefono", "").strip():
            try:
                phone = parse_phone(row["telefono"])
            except ValueError as exc:
                reasons.append(str(exc))
        if row.get("contrato", "").strip():
            try:
                contract = parse_contract(row["contrato"])
            except ValueError as exc:
                reasons.append(str(exc))
        if not reasons and not phone and not contract:
            reasons.append("sin teléfono ni contrato")
        if reasons:
            errors.append(RowError(line, "; ".join(reasons)))
            continue
        good.append(DncLine(line, phone, contract, row.get("motivo", "").strip()))
    if errors:
        raise CsvRowsError(errors)
    return good


async def import_dnc(engine: AsyncEngine, path: Path, *, now_ms: int) -> tuple[int, int]:
    """Add a do-not-call file (all or nothing); return (entries added, already listed)."""
    lines = parse_dnc(path)
    entries: dict[tuple[str, str], str] = {}
    for item in lines:
        if item.phone:
            entries.setdefault(("phone", item.phone), item.reason)
        if item.contract:
            entries.setdefault(("contract", item.contract), item.reason)
    async with engine.begin() as conn:
        rows = await conn.execute(sa.select(do_not_call.c.kind, do_not_call.c.value))
        existing = {(str(kind), str(value)) for kind, value in rows}
        new = [
            {"kind": k, "value": v, "reason": r, "added_ms": now_ms}
            for (k, v), r in entries.items()
            if (k, v) not in existing
        ]
        if new:
            await conn.execute(sa.insert(do_not_call), new)
    return len(new), len(entries) - len(new)


@dataclass(frozen=True, slots=True)
class PaymentLine:
    """A validated payment."""

    line: int
    contract: str
    paid_on: date
    amount: str
    reference: str

    @property
    def key(self) -> str:
        """Identity of the payment: the same line imported twice is one payment."""
        return f"{self.contract}|{self.paid_on.isoformat()}|{self.amount}|{self.reference}"


def parse_payments(path: Path) -> list[PaymentLine]:
    """Validate a payments file (contrato, fecha_pago, [monto], [referencia])."""
    rows = read_rows(path, PAYMENT_COLUMNS)
    good: list[PaymentLine] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        reasons: list[str] = []
        contract = amount = ""
        paid_on: date | None = None
        try:
            contract = parse_contract(row["contrato"])
        except ValueError as exc:
            reasons.append(str(exc))
        try:
            paid_on = parse_date(row["fecha_pago"], "fecha de pago")
        except ValueError as exc:
            reasons.append(str(exc))
        raw_amount = row.get("monto", "").strip().replace(",", ".")
        if raw_amount:
            try:
                value = Decimal(raw_amount)
                if not value.is_finite() or value < 0:
                    raise InvalidOperation
                amount = str(value)
            except InvalidOperation:
                reasons.append(f'monto "{row["monto"].strip()}" inválido')
        if reasons or paid_on is None:
            errors.append(RowError(line, "; ".join(reasons)))
            continue
        item = PaymentLine(line, contract, paid_on, amount, row.get("referencia", "").strip()[:64])
        first = seen.setdefault(item.key, line)
        if first != line:
            errors.append(RowError(line, f"pago duplicado (igual a la línea {first})"))
            continue
        good.append(item)
    if errors:
        raise CsvRowsError(errors)
    return good


async def import_payments(engine: AsyncEngine, path: Path, *, now_ms: int) -> tuple[int, int]:
    """Add a payments file (all or nothing); return (payments added, already imported)."""
    lines = parse_payments(path)
    async with engine.begin() as conn:
        existing = set((await conn.scalars(sa.select(payments.c.key))).all())
        new = [
            {
                "contract": p.contract,
                "paid_on": p.paid_on.isoformat(),
                "amount": p.amount,
                "reference": p.reference,
                "key": p.key,
                "imported_ms": now_ms,
            }
            for p in lines
            if p.key not in existing
        ]
        for start in range(0, len(new), _CHUNK):
            await conn.execute(sa.insert(payments), new[start : start + _CHUNK])
    return len(new), len(lines) - len(new)
