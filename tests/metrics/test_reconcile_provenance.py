"""Reconciliation shows measured records apart from estimated, healed and queue_log-filled
ones (counts, differences, the list of still-estimated records); on both databases."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.metrics.heal import heal
from centralita.metrics.periods import Period
from centralita.metrics.reconcile import reconcile, render_text
from tests.metrics.qlfiles import answered_call, connect, enter
from tests.metrics.test_heal import LATER_MS, PBX, T0, ami_answered, load_ql, store

NOV = Period.month("2026-11")


async def _scenario(engine: AsyncEngine, tmp_path: Path) -> None:
    await store(
        engine,
        ami_answered("7.1", T0 + 0.3, T0 + 5.1, T0 + 20.0, hold=5),  # measured
        # Joined during an outage, its wait taken from the estimated entry (50 s against
        # queue_log's 12), still talking in queue_log: stays estimated.
        ami_answered("7.2", T0 - 38.0, T0 + 12.2, T0 + 30.0, hold=50, marks=("entered_at",)),
        # Joined during an outage, over in queue_log: healed.
        ami_answered("7.3", T0 + 60.0 - 40.0, T0 + 70.4, T0 + 90.0, hold=10, marks=("entered_at",)),
    )
    await load_ql(
        engine,
        tmp_path,
        [
            *answered_call(T0, "7.1", 5, 15),
            enter(T0, "7.2"),
            connect(T0 + 12, "7.2", 12),
            *answered_call(T0 + 60, "7.3", 10, 20),
            *answered_call(T0 + 100, "7.4", 3, 9),  # never seen over AMI
        ],
    )


async def test_healing_off_lists_exactly_the_missed_call(any_engine: AsyncEngine, tmp_path: Path):
    await _scenario(any_engine, tmp_path)
    result = await reconcile(any_engine, NOV, pbx_id=PBX)
    missing = [d.uniqueid for d in result.differences if d.kind == "falta_en_ami"]
    assert missing == ["7.4"]
    assert result.provenance == {"measured": 1, "estimated": 2}
    assert [v.uniqueid for v in result.estimated] == ["7.2", "7.3"]
    assert {d.uniqueid for d in result.measured_differences} == {"7.4"}
    other = [(d.uniqueid, d.kind) for d in result.other_differences]
    assert other == [("7.2", "espera"), ("7.2", "umbral")]


async def test_estimated_healed_and_filled_records_are_shown_apart(
    any_engine: AsyncEngine, tmp_path: Path
):
    await _scenario(any_engine, tmp_path)
    await heal(any_engine, PBX, now_ms=LATER_MS)
    result = await reconcile(any_engine, NOV, pbx_id=PBX)
    assert result.provenance == {"measured": 1, "estimated": 1, "healed": 1, "queue_log": 1}
    assert [v.uniqueid for v in result.estimated] == ["7.2"]
    assert result.measured_differences == []
    other = result.other_differences
    assert [(d.uniqueid, d.kind, d.provenance) for d in other] == [
        ("7.2", "espera", "estimated"),
        ("7.2", "umbral", "estimated"),
    ]
    text = render_text(result, NOV.tz)
    assert "medidos (observados en AMI): 1" in text
    assert "estimados y corregidos con queue_log: 1" in text
    assert "completados desde queue_log (AMI no los vio): 1" in text
    assert "Registros con valores estimados (no observados en AMI):" in text
    estimated_section = text.split("Registros con valores estimados (no observados en AMI):")[1]
    assert "7.2" in estimated_section and "entered_at" in estimated_section
    assert "7.3" not in estimated_section
