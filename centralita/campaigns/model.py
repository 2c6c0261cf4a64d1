"""The campaign's vocabulary: services, attempt outcomes, agent dispositions (pure data).

Procedure K (Clientes Prepago): the supervisor extracts the prepaid customers of cable TV
and Internet; agents call them from the 25th of the month before expiry to the last day of
the month to remind them of the due date, report the result, and the supervisor measures
how many managed customers paid. The agent's script is ``centralita/scripts/data/prepago.toml``
(id ``prepago``); its outcome codes close the procedure's steps, so the per-call results
the agent records are the dispositions defined here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Final, Literal

SCRIPT_ID: Final = "prepago"

Service = Literal["tv_cable", "internet"]
SERVICES: Final[tuple[Service, ...]] = ("tv_cable", "internet")
SERVICE_LABELS: Final[dict[str, str]] = {"tv_cable": "TV Cable", "internet": "Internet"}

Outcome = Literal["no_answer", "busy", "failed", "answered", "unknown", "not_sent"]
"""How one attempt ended at the PBX.

``unknown``: no OriginateResponse arrived in time (a lost event or a daemon restart while
the call was out); it counts as an attempt. ``not_sent``: the Originate could not be sent
(the AMI connection was down); no call was made, it does not count.
"""
OUTCOMES: Final[tuple[Outcome, ...]] = (
    "no_answer",
    "busy",
    "failed",
    "answered",
    "unknown",
    "not_sent",
)
PLACING: Final = "placing"
"""An attempt written before its Originate is sent and still without a result."""

Disposition = Literal["informado", "promesa_pago", "numero_equivocado", "rechaza"]
DISPOSITIONS: Final[dict[str, str]] = {
    "informado": "Informado de la fecha de vencimiento",
    "promesa_pago": "Informado, promete pagar",
    "numero_equivocado": "Número equivocado",
    "rechaza": "Rechaza la llamada",
}
INFORMED: Final[frozenset[str]] = frozenset({"informado", "promesa_pago"})
"""Dispositions meaning the customer heard the reminder."""

# Asterisk's OriginateResponse ``Reason`` is the last control frame seen on the channel
# (AST_CONTROL_*): 4 answer, 5 busy, 3 ringing (timed out ringing), 1 hang-up before
# answer, 8 congestion, 0 no such channel / failure.
REASON_OUTCOMES: Final[dict[int, Outcome]] = {
    0: "failed",
    1: "no_answer",
    2: "no_answer",
    3: "no_answer",
    4: "answered",
    5: "busy",
    8: "failed",
}


def outcome_from_reason(response: str, reason: int) -> Outcome:
    """The attempt outcome for an OriginateResponse's ``Response`` and ``Reason``."""
    if response.lower() == "success":
        return "answered"
    found = REASON_OUTCOMES.get(reason, "failed")
    return "failed" if found == "answered" else found


@dataclass(frozen=True, slots=True)
class Customer:
    """One customer in a campaign list."""

    contract: str
    name: str
    service: Service
    phones: tuple[str, ...]
    due_date: date


@dataclass(frozen=True, slots=True)
class Attempt:
    """One call attempt and what is known of it so far."""

    attempt_id: int
    contract: str
    phone: str
    placed_at: datetime
    outcome: str = PLACING
    result_at: datetime | None = None
    agent: str = ""
    disposition: str | None = None
    disposition_agent: str = ""

    @property
    def in_flight(self) -> bool:
        """True while the Originate has no result."""
        return self.outcome == PLACING


def mask_phone(phone: str) -> str:
    """All but the last 3 digits hidden, for logs."""
    return "*" * max(len(phone) - 3, 0) + phone[-3:]
