"""Walking a script as a guided decision tree."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from centralita.scripts import Move, WalkError, load_script, options_at, replay, start, suggest

LA_PAZ = ZoneInfo("America/La_Paz")


def test_101_walk_to_gsi_outcome() -> None:
    walk = start(load_script("101"))
    assert walk.at == 1
    assert not walk.finished
    for _ in range(4):  # steps 1..4 have a single "Continuar" option
        (option,) = walk.options()
        assert option.label == "Continuar"
        walk = walk.choose(option.index)
    assert walk.at == 5
    walk = walk.choose(0)  # existe registro de daño → 6
    assert walk.at == 6
    labels = [option.label for option in walk.options()]
    assert "estado Registrado ó en Ejecución" in labels[0]
    walk = walk.choose(0)  # → 8
    assert walk.step.number == 8
    walk = walk.choose(0)  # → 9
    walk = walk.choose(0)  # → outcome
    assert walk.finished
    assert walk.at is None
    assert walk.outcome is not None
    assert walk.outcome.code == "dano_reiterado_gsi"
    assert walk.options() == ()
    assert walk.path() == (1, 2, 3, 4, 5, 6, 8, 9)
    assert walk.trail[-1] == Move(9, 0)


def test_branch_straight_to_outcome() -> None:
    walk = start(load_script("4522222"), at=6)
    options = walk.options()
    assert [option.outcome for option in options] == [
        "decodificador_configurado",
        "derivado_101_decodificador",
    ]
    walk = walk.choose(1)
    assert walk.outcome is not None
    assert walk.outcome.label == "El cliente no pudo configurar el decodificador: derivado al 101"


def test_supervisor_resumes_at_continues_at() -> None:
    script = load_script("102")
    walk = start(script)
    for choice in (0, 0, 0, 2, 0):  # 1,2,3 → 4 "cobro excesivo" → 7 → outcome
        walk = walk.choose(choice)
    assert walk.outcome is not None
    assert walk.outcome.code == "derivado_supervision"
    resumed = start(script, at=walk.outcome.continues_at)
    assert resumed.step.actor == "supervisora"
    resumed = resumed.choose(0).choose(1)  # 8 → 9 "caso contrario" → 11
    assert resumed.at == 11


def test_impossible_moves() -> None:
    script = load_script("104")
    walk = start(script)
    with pytest.raises(WalkError, match="no hay opción 3 en el paso 1"):
        walk.choose(3)
    with pytest.raises(WalkError, match="el paso 42 no existe"):
        start(script, at=42)
    finished = walk.choose(0).choose(1)  # 2: no existe → 4 (ends)
    finished = finished.choose(0)
    assert finished.finished
    with pytest.raises(WalkError, match="el recorrido ya terminó"):
        finished.choose(0)
    with pytest.raises(WalkError, match="el recorrido ya terminó"):
        _ = finished.step


def test_replay_rebuilds_a_stored_trail() -> None:
    script = load_script("103")
    walk = start(script)
    for choice in (0, 0, 0, 3, 0, 1, 0, 0):  # 4 → anulado → 9 → 10 → atribuible → 12 → 13
        walk = walk.choose(choice)
    assert walk.outcome is not None
    assert walk.outcome.code == "derivado_supervision"
    again = replay(script, list(walk.trail))
    assert again == walk
    with pytest.raises(WalkError, match="el recorrido indica el paso 5"):
        replay(script, [Move(1, 0), Move(5, 0)])


@pytest.mark.parametrize(
    ("when", "branch"),
    [
        (datetime(2024, 6, 3, 0, 0, tzinfo=LA_PAZ), 0),  # lunes 00:00
        (datetime(2024, 6, 5, 15, 30, tzinfo=LA_PAZ), 0),  # miércoles
        (datetime(2024, 6, 7, 11, 59, tzinfo=LA_PAZ), 0),  # viernes antes de medio día
        (datetime(2024, 6, 7, 12, 0, tzinfo=LA_PAZ), 1),  # viernes medio día
        (datetime(2024, 6, 8, 9, 0, tzinfo=LA_PAZ), 1),  # sábado
        (datetime(2024, 6, 9, 23, 59, tzinfo=LA_PAZ), 1),  # domingo
    ],
)
def test_4639999_friday_noon_rule_suggests_the_branch(when: datetime, branch: int) -> None:
    script = load_script("4639999")
    option = suggest(script.step(6), when)
    assert option is not None
    assert option.index == branch
    walk = start(script, at=6).choose(option.index)
    if branch == 0:
        assert walk.outcome is not None
        assert walk.outcome.code == "dano_registrado"
    else:
        assert walk.at == 7


def test_no_suggestion_without_windows() -> None:
    step = load_script("101").step(6)
    assert suggest(step, datetime(2024, 6, 7, 12, 0, tzinfo=LA_PAZ)) is None
    assert len(options_at(step)) == 3


def test_every_outcome_of_every_script_is_walkable() -> None:
    """Exhaustive: from each script's start, its first step (another role's part, as the
    supervisor's in prepago) and each continues_at, every outcome is reached."""
    from centralita.scripts import load_all

    for script in load_all().values():
        reached: set[str] = set()
        entries = [script.start, script.steps[0].number] + [
            o.continues_at for o in script.outcomes if o.continues_at is not None
        ]
        for entry in entries:
            frontier = [start(script, at=entry)]
            seen: set[int] = set()
            while frontier:
                walk = frontier.pop()
                if walk.outcome is not None:
                    reached.add(walk.outcome.code)
                    continue
                assert walk.at is not None
                if walk.at in seen:
                    continue
                seen.add(walk.at)
                frontier.extend(walk.choose(option.index) for option in walk.options())
        assert reached == {o.code for o in script.outcomes}, script.id
