"""The effectiveness report against a hand-computed fixture (SQLite and PostgreSQL).

Campaign 2025-03 (window 2025-02-25 … 2025-03-31, La Paz = UTC-4):

| cust | service | what happened                                        | payment    |
|------|---------|------------------------------------------------------|------------|
| T1   | TV      | answered 02-25, a1: informado                        | 02-27 after|
| T2   | TV      | no answer, then answered 02-26, a2: promesa_pago     | 03-05 after|
| T3   | TV      | not sent, then answered 02-25, a1: rechaza           | —          |
| T4   | TV      | no answer ×3, answered 02-26 but never bridged       | 03-10 (after management) |
| T5   | TV      | only a not-sent attempt: not managed                 | —          |
| I1   | Net     | answered, a2: numero_equivocado (its only phone)     | 02-20 (outside window) |
| I2   | Net     | answered 02-27 03:00Z = 02-26 23:00 La Paz, a1: informado | 02-26 (after) |
| I3   | Net     | answered 02-28, connected to a2, no disposition      | 02-27 (before contact) |
| I4   | Net     | on the do-not-call list, never called                | 03-02 (control) |

Managed (gestionados): every customer with a counted attempt; the procedure's
effectiveness is managed customers who paid on or after their first attempt, over managed.
T4's answered call no agent took is not a contact. The control group is the customers never
called (T5, I4).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.campaigns import store
from centralita.campaigns.importer import import_customer_list, import_dnc, import_payments
from centralita.campaigns.report import build_report, counts_as_dict, render_table, write_xlsx
from tests.campaigns.conftest import LIST_HEADER, write

LIST = "\n".join(
    [
        LIST_HEADER,
        "T1,71000001,TV Cable,Uno,2025-03-31",
        "T2,71000002,TV Cable,Dos,2025-03-31",
        "T3,71000003,TV Cable,Tres,2025-03-31",
        "T4,71000004,TV Cable,Cuatro,2025-03-31",
        "T5,71000005,TV Cable,Cinco,2025-03-31",
        "I1,72000001,Internet,Uno,2025-03-31",
        "I2,72000002,Internet,Dos,2025-03-31",
        "I3,72000003,Internet,Tres,2025-03-31",
        "I4,72000004,Internet,Cuatro,2025-03-31",
    ]
)
PAYMENTS = "\n".join(
    [
        "contrato,fecha_pago,monto",
        "T1,2025-02-27,100",
        "T2,2025-03-05,100",
        "T4,2025-03-10,100",
        "I1,2025-02-20,100",
        "I2,2025-02-26,100",
        "I3,2025-02-27,100",
        "I4,2025-03-02,100",
        "X9,2025-03-02,100",
    ]
)


def z(day: int, hour: int, month: int = 2) -> datetime:
    return datetime(2025, month, day, hour, 0, tzinfo=UTC)


async def call(
    engine: AsyncEngine,
    campaign_id: int,
    contract: str,
    outcome: str,
    at: datetime,
    agent: str = "",
    disposition: str = "",
) -> None:
    phone = {"T": "7100000", "I": "7200000"}[contract[0]] + contract[1]
    attempt_id, _ = await store.add_attempt(
        engine,
        campaign_id=campaign_id,
        contract=contract,
        phone=phone,
        attempt_no=1,
        queue="q",
        action_prefix="t",
        placed_at=at,
    )
    await store.add_result(engine, attempt_id, outcome, at)
    if agent:
        await store.add_agent(engine, attempt_id, agent, at)
    if disposition:
        await store.add_disposition(engine, attempt_id, disposition, agent=agent, at=at)


async def fixture(engine: AsyncEngine, tmp_path: Path) -> None:
    await import_customer_list(engine, write(tmp_path / "l.csv", LIST + "\n"), month=None, now_ms=0)
    await import_dnc(engine, write(tmp_path / "d.csv", "telefono\n72000004\n"), now_ms=0)
    await import_payments(engine, write(tmp_path / "p.csv", PAYMENTS + "\n"), now_ms=0)
    cid = (await store.get_campaign(engine, "2025-03")).campaign_id
    await call(engine, cid, "T1", "answered", z(25, 14), "a1", "informado")
    await call(engine, cid, "T2", "no_answer", z(25, 14))
    await call(engine, cid, "T2", "answered", z(26, 15), "a2", "promesa_pago")
    await call(engine, cid, "T3", "not_sent", z(25, 13))
    await call(engine, cid, "T3", "answered", z(25, 15), "a1", "rechaza")
    for hour in (13, 16, 19):
        await call(engine, cid, "T4", "no_answer", z(25, hour))
    await call(engine, cid, "T4", "answered", z(26, 14))  # the customer hung up in the queue
    await call(engine, cid, "T5", "not_sent", z(25, 13))
    await call(engine, cid, "I1", "answered", z(25, 14), "a2", "numero_equivocado")
    await call(engine, cid, "I2", "answered", z(27, 3), "a1", "informado")
    await call(engine, cid, "I3", "answered", z(28, 14), "a2")


TV = {
    "en_lista": 5,
    "no_llamar": 0,
    "gestionados": 4,
    "contactados": 3,
    "informados": 2,
    "promesas": 1,
    "rechazos": 1,
    "numero_equivocado": 0,
    "pagaron_tras_gestion": 3,
    "pagaron_tras_llamada": 2,
    "pagaron_antes_del_contacto": 0,
    "no_gestionados": 1,
    "pagaron_sin_gestion": 0,
    "efectividad_pct": 75.0,
    "efectividad_contactados_pct": 66.7,
    "tasa_control_pct": 0.0,
}
NET = {
    "en_lista": 4,
    "no_llamar": 1,
    "gestionados": 3,
    "contactados": 2,
    "informados": 1,
    "promesas": 0,
    "rechazos": 0,
    "numero_equivocado": 1,
    "pagaron_tras_gestion": 1,
    "pagaron_tras_llamada": 1,
    "pagaron_antes_del_contacto": 1,
    "no_gestionados": 1,
    "pagaron_sin_gestion": 1,
    "efectividad_pct": 33.3,
    "efectividad_contactados_pct": 50.0,
    "tasa_control_pct": 100.0,
}
TOTAL = {
    "en_lista": 9,
    "no_llamar": 1,
    "gestionados": 7,
    "contactados": 5,
    "informados": 3,
    "promesas": 1,
    "rechazos": 1,
    "numero_equivocado": 1,
    "pagaron_tras_gestion": 4,
    "pagaron_tras_llamada": 3,
    "pagaron_antes_del_contacto": 1,
    "no_gestionados": 2,
    "pagaron_sin_gestion": 1,
    "efectividad_pct": 57.1,
    "efectividad_contactados_pct": 60.0,
    "tasa_control_pct": 50.0,
}
A1 = {
    "en_lista": 3,  # T1, T3, I2
    "no_llamar": 0,
    "gestionados": 3,
    "contactados": 3,
    "informados": 2,
    "promesas": 0,
    "rechazos": 1,
    "numero_equivocado": 0,
    "pagaron_tras_gestion": 2,
    "pagaron_tras_llamada": 2,
    "pagaron_antes_del_contacto": 0,
    "no_gestionados": 0,
    "pagaron_sin_gestion": 0,
    "efectividad_pct": 66.7,
    "efectividad_contactados_pct": 66.7,
    "tasa_control_pct": None,
}
A2 = {
    "en_lista": 3,  # T2, I1 (wrong number), I3 (no disposition: the bridged agent)
    "no_llamar": 0,
    "gestionados": 3,
    "contactados": 2,
    "informados": 1,
    "promesas": 1,
    "rechazos": 0,
    "numero_equivocado": 1,
    "pagaron_tras_gestion": 1,
    "pagaron_tras_llamada": 1,
    "pagaron_antes_del_contacto": 1,
    "no_gestionados": 0,
    "pagaron_sin_gestion": 0,
    "efectividad_pct": 33.3,
    "efectividad_contactados_pct": 50.0,
    "tasa_control_pct": None,
}


async def test_report_matches_the_hand_computed_fixture(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await fixture(engine, tmp_path)
    report = build_report(await store.load_state(engine, "2025-03"))
    assert counts_as_dict(report.per_service["tv_cable"]) == TV
    assert counts_as_dict(report.per_service["internet"]) == NET
    assert counts_as_dict(report.total) == TOTAL
    assert list(report.per_agent) == ["a1", "a2"]
    assert counts_as_dict(report.per_agent["a1"]) == A1
    assert counts_as_dict(report.per_agent["a2"]) == A2
    text = render_table(report)
    assert "Campaña prepago 2025-03 (llamadas del 2025-02-25 al 2025-03-31)" in text
    assert "Efectividad % (pagaron / gestionados)" in text and "57.1" in text
    assert "Efectividad sobre contactados %" in text
    assert "no calculable" in text  # the agents' control group: everyone was called
    out = tmp_path / "r.xlsx"
    write_xlsx(report, out)
    book = load_workbook(out)
    assert book.sheetnames == ["Por servicio", "Por agente", "Detalle", "Leyenda"]
    rows = list(book["Por servicio"].iter_rows(values_only=True))
    assert rows[0][0] == "Servicio"
    assert rows[0][:6] == (
        "Servicio",
        "En lista",
        "No llamar",
        "Gestionados",
        "Pagaron tras la gestión",
        "Efectividad % (pagaron / gestionados)",
    )
    assert rows[3][:6] == ("Total", 9, 1, 7, 4, 57.1)
    assert rows[3][-3:] == (2, 1, 50.0)
    agents = list(book["Por agente"].iter_rows(values_only=True))
    assert agents[1][0] == "a1" and agents[1][-1] == 66.7
    assert len(list(book["Detalle"].iter_rows())) == 10
