"""The validator and the loader catch broken scripts, naming the file and the path."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from centralita.scripts import (
    Branch,
    Outcome,
    Script,
    ScriptDecodeError,
    ScriptInvalidError,
    ScriptNotFoundError,
    Step,
    WeeklyWindow,
    check_dir,
    load_file,
    load_script,
    parse,
    problems,
    script_schema,
)
from centralita.scripts.loader import data_files

GOOD = """
id = "104"
version = 1
service = "Prueba"
title = "104 PRUEBA"
section = "D"
measured_by_att = true

[[steps]]
number = 1
text = "Brinda saludo"
next = 2

[[steps]]
number = 2
text = "Decide"

[[steps.branches]]
condition = "Si existe"
goto = 3

[[steps.branches]]
condition = "Caso contrario"
outcome = "sin_registro"

[[steps]]
number = 3
text = "Informa"
outcome = "informado"

[[outcomes]]
code = "sin_registro"
label = "Sin registro"

[[outcomes]]
code = "informado"
label = "Informado"
"""


def make(steps: list[Step], outcomes: list[Outcome] | None = None, start: int = 1) -> Script:
    return Script(
        id="104",
        version=1,
        service="Prueba",
        title="PRUEBA",
        section="D",
        measured_by_att=False,
        start=start,
        steps=tuple(steps),
        outcomes=tuple(outcomes if outcomes is not None else [Outcome(code="fin", label="Fin")]),
    )


def test_good_script_has_no_problems() -> None:
    script = parse(GOOD, "x.toml")
    assert problems(script) == []


def test_dangling_goto_names_file_and_path() -> None:
    broken = GOOD.replace("goto = 3", "goto = 14")
    with pytest.raises(ScriptInvalidError) as caught:
        parse(broken, "scripts/data/104.toml")
    assert caught.value.problems == (
        "scripts/data/104.toml: $.steps[1].branches[0].goto: paso desconocido 14",
    )
    assert (
        str(caught.value)
        == "scripts/data/104.toml: $.steps[1].branches[0].goto: paso desconocido 14"
    )


def test_dangling_next_and_unknown_outcome() -> None:
    script = make(
        [
            Step(number=1, text="a", next=2),
            Step(number=2, text="b", next=9),
            Step(number=3, text="c", outcome="nada"),
        ]
    )
    assert problems(script) == [
        "$.steps[1].next: paso desconocido 9",
        "$.steps[2].outcome: resultado desconocido «nada»",
    ]


def test_unreachable_step() -> None:
    script = make(
        [
            Step(number=1, text="a", outcome="fin"),
            Step(number=2, text="huérfano", outcome="fin"),
        ]
    )
    assert problems(script) == ["$.steps[1]: el paso 2 es inalcanzable desde el paso 1"]


def test_duplicate_step() -> None:
    script = make(
        [
            Step(number=1, text="a", next=2),
            Step(number=2, text="b", outcome="fin"),
            Step(number=2, text="otra vez b", outcome="fin"),
        ]
    )
    assert problems(script) == [
        "$.steps[1].number: paso repetido 2",
        "$.steps[2].number: paso repetido 2",
    ]


def test_duplicate_outcome_and_unused_outcome() -> None:
    duplicate = make(
        [Step(number=1, text="a", outcome="fin")],
        [Outcome(code="fin", label="A"), Outcome(code="fin", label="B")],
    )
    assert problems(duplicate) == [
        "$.outcomes[0].code: resultado repetido «fin»",
        "$.outcomes[1].code: resultado repetido «fin»",
    ]
    unused = make(
        [Step(number=1, text="a", outcome="fin")],
        [Outcome(code="fin", label="A"), Outcome(code="nunca", label="B")],
    )
    assert problems(unused) == ["$.outcomes[1]: el resultado «nunca» nunca se alcanza"]


def test_step_needs_exactly_one_ending() -> None:
    script = make(
        [
            Step(number=1, text="a", next=2, outcome="fin"),
            Step(number=2, text="sin salida"),
        ]
    )
    assert problems(script) == [
        "$.steps[0]: un paso necesita exactamente uno de next, outcome, branches",
        "$.steps[1]: un paso necesita exactamente uno de next, outcome, branches",
    ]


def test_branch_needs_exactly_one_target_and_a_decision_two_branches() -> None:
    script = make(
        [
            Step(
                number=1,
                text="a",
                branches=(Branch(condition="sí", goto=2, outcome="fin"), Branch(condition="no")),
            ),
            Step(number=2, text="b", branches=(Branch(condition="única", outcome="fin"),)),
        ]
    )
    assert problems(script) == [
        "$.steps[0].branches[0]: una rama necesita exactamente uno de goto, outcome",
        "$.steps[0].branches[1]: una rama necesita exactamente uno de goto, outcome",
        "$.steps[1].branches: una decisión necesita al menos dos ramas",
    ]


def test_cycle_without_exit_never_reaches_an_outcome() -> None:
    script = make(
        [
            Step(
                number=1,
                text="a",
                branches=(Branch(condition="x", goto=2), Branch(condition="y", outcome="fin")),
            ),
            Step(number=2, text="b", next=3),
            Step(number=3, text="c", next=2),
        ]
    )
    assert problems(script) == [
        "$.steps[1]: el paso 2 nunca llega a un resultado",
        "$.steps[2]: el paso 3 nunca llega a un resultado",
    ]


def test_self_loop_order_and_start() -> None:
    script = make(
        [Step(number=2, text="b", outcome="fin"), Step(number=1, text="a", next=1)], start=7
    )
    assert problems(script) == [
        "$.steps[1].number: el paso 1 está después del paso 2; ordene los pasos de menor a mayor",
        "$.start: paso desconocido 7",
        "$.steps[1].next: el paso 1 va a sí mismo",
    ]


def test_actor_change_only_through_an_outcome() -> None:
    script = make(
        [
            Step(number=1, text="a", next=2),
            Step(number=2, text="b", actor="supervisora", outcome="fin"),
        ]
    )
    assert problems(script) == [
        "$.steps[0].next: el paso 2 es de supervisora, no de agente; "
        "para cambiar de actor, termine en un resultado con continues_at"
    ]
    handed = make(
        [
            Step(number=1, text="a", outcome="derivado"),
            Step(number=2, text="b", actor="supervisora", outcome="fin"),
        ],
        [Outcome(code="derivado", label="D", continues_at=2), Outcome(code="fin", label="F")],
    )
    assert problems(handed) == []
    dangling = make(
        [Step(number=1, text="a", outcome="fin")],
        [Outcome(code="fin", label="F", continues_at=5)],
    )
    assert problems(dangling) == ["$.outcomes[0].continues_at: paso desconocido 5"]


def _windowed(*windows: WeeklyWindow) -> Script:
    branches = tuple(
        Branch(condition=f"v{index}", outcome="fin", window=window)
        for index, window in enumerate(windows)
    )
    return make([Step(number=1, text="a", branches=branches)])


def test_time_windows_must_cover_the_week_once() -> None:
    weekday = WeeklyWindow(start_day=1, start_time="00:00", end_day=5, end_time="12:00")
    weekend = WeeklyWindow(start_day=5, start_time="12:00", end_day=1, end_time="00:00")
    short = WeeklyWindow(start_day=5, start_time="13:00", end_day=1, end_time="00:00")
    assert problems(_windowed(weekday, weekend)) == []
    assert problems(_windowed(weekday, short)) == [
        "$.steps[0].branches: las franjas deben cubrir toda la semana exactamente una vez"
    ]
    mixed = make(
        [
            Step(
                number=1,
                text="a",
                branches=(
                    Branch(condition="x", outcome="fin", window=weekday),
                    Branch(condition="y", outcome="fin"),
                ),
            )
        ]
    )
    assert problems(mixed) == [
        "$.steps[0].branches: o todas las ramas de una decisión tienen window, o ninguna"
    ]


# --- decoding ---------------------------------------------------------------------------


def test_unknown_field_is_an_error_with_its_path() -> None:
    broken = GOOD.replace('text = "Informa"', 'text = "Informa"\nsiguiente = 4')
    with pytest.raises(ScriptDecodeError) as caught:
        parse(broken, "scripts/data/104.toml")
    assert str(caught.value) == (
        "scripts/data/104.toml: $.steps[2]: campo desconocido «siguiente» "
        "(revise cómo está escrito)"
    )
    assert caught.value.path == "$.steps[2]"


def test_wrong_type_and_bad_outcome_code() -> None:
    with pytest.raises(
        ScriptDecodeError,
        match=r"x.toml: \$.steps\[0\].next: se esperaba un número entero, llegó un texto$",
    ):
        parse(GOOD.replace("next = 2", 'next = "2"'), "x.toml")
    with pytest.raises(
        ScriptDecodeError,
        match=r"\$.steps\[2\].outcome: se esperaba texto que cumpla la expresión '",
    ):
        parse(GOOD.replace('"informado"', '"Informado!"'), "x.toml")


def test_invalid_toml() -> None:
    with pytest.raises(
        ScriptDecodeError, match=r"^x.toml: no es TOML válido al final del archivo \("
    ):
        parse("id = ", "x.toml")


def test_file_name_must_be_the_id(tmp_path: Path) -> None:
    path = tmp_path / "101.toml"
    path.write_text(GOOD, encoding="utf-8")
    with pytest.raises(
        ScriptInvalidError, match=r"101.toml: \$.id: «104» no coincide con el nombre del archivo$"
    ):
        load_file(path)


def test_unknown_script_id() -> None:
    with pytest.raises(
        ScriptNotFoundError, match=r"^no hay ningún guion con el identificador «999»$"
    ):
        load_script("999")
    with pytest.raises(ScriptNotFoundError):
        load_script("../pyproject")


def test_packaged_directory_checks_clean() -> None:
    assert check_dir(data_files(), "scripts/data") == []


def test_check_dir_reports_every_problem(tmp_path: Path) -> None:
    for entry in data_files().iterdir():
        if entry.name.endswith(".toml"):
            (tmp_path / entry.name).write_text(entry.read_text(encoding="utf-8"), "utf-8")
    (tmp_path / "102.toml").unlink()
    (tmp_path / "extra.toml").write_text(GOOD, "utf-8")
    text = (tmp_path / "103.toml").read_text("utf-8")
    (tmp_path / "103.toml").write_text(text.replace("goto = 9", "goto = 19"), "utf-8")
    messages = check_dir(tmp_path, "d")
    assert messages == [
        "d/103.toml: $.steps[3].branches[3].goto: paso desconocido 19",
        "d/extra.toml: «extra» no es la clave de ningún servicio",
        "d: falta el guion del servicio «102»",
    ]


def test_json_schema_for_docs() -> None:
    schema = script_schema()
    assert schema["$ref"] == "#/$defs/Script"
    script_def = schema["$defs"]["Script"]
    assert set(script_def["required"]) >= {"id", "version", "steps", "outcomes", "section"}
    assert "Step" in schema["$defs"]
    assert "Branch" in schema["$defs"]
    msgspec.json.encode(schema)  # serialisable as is
