"""Interactions whose walks go (or do not go) through an e-mail step."""

from __future__ import annotations

from typing import Any

from centralita.console.interactions import Interaction, build

# 4639999: falla técnica (3 → 6), weekend window (6 → 7), e-mail at 7, interaction at 8.
WEEKEND_DAMAGE = [(1, 0), (2, 0), (3, 1), (6, 1), (7, 0), (8, 0)]
# 4639999: billing information, no e-mail.
BILLING = [(1, 0), (2, 0), (3, 0), (4, 0), (5, 0)]
# 103: the supervisor resumes at 14 and e-mails the sector's head at 15.
SUPERVISOR_103 = [(14, 0), (15, 0)]

POP: dict[str, Any] = {
    "caller_num": "70111222",
    "service": "4639999",
    "service_name": "Telefonía Pública",
    "agent_name": "Ana Quispe",
    "customer": {"name": "Juana Pérez", "contract": "1234567", "segment": "residencial"},
    "ivr": {"customer": "1234567"},
}


def interaction(
    trail: list[tuple[int, int]],
    *,
    script_id: str = "4639999",
    call_id: str = "1795940000.7",
    note: str = "Teléfono público de la plaza sin tono desde el sábado",
    agent: str = "agent1",
) -> Interaction:
    return build(
        pbx="lab",
        call_id=call_id,
        agent=agent,
        user="ana",
        service=script_id,
        script_id=script_id,
        script_version=1,
        trail=trail,
        note=note,
    )
