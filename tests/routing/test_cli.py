"""`centralita routing check` and `centralita routing resolve`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from centralita.cli import main
from centralita.routing import default_routing_path
from tests.routing.conftest import BASE, SECOND

SHIPPED = str(default_routing_path())
LAB = str(Path(__file__).resolve().parents[1] / "fixtures" / "routing-lab.toml")


def test_check_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["routing", "check", SHIPPED]) == 0
    out = capsys.readouterr().out
    assert "correcto (11 servicios" in out
    # what the procedure does not say is listed, in force or not
    assert "valores de EJEMPLO (no son del procedimiento" in out
    assert "(en uso): max_wait_s = 60" in out
    assert "(comentado, sin efecto): # [service.priority]" in out


def test_check_reports_path_named_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "routing.toml"
    text = BASE + SECOND.replace('queue = "q104"', 'queue = "q99"')
    bad.write_text(text.replace('numbers = ["104"]', 'numbers = ["101"]'), encoding="utf-8")
    assert main(["routing", "check", str(bad)]) == 1
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 3, err  # one line per problem: file, place, reason
    assert all(line.startswith(f"{bad}: enrutamiento inválido en ") for line in lines)
    assert "service[1].queue: cola desconocida «q99»" in err
    assert "service[1].numbers[0]: número repetido «101»" in err


def test_check_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["routing", "check", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml: el archivo de enrutamiento no existe" in capsys.readouterr().err


def test_resolve_prints_decision_and_why(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["routing", "resolve", LAB, "--dialed", "4639999", "--at", "2026-12-04T15:00"])
    assert code == 0
    out = capsys.readouterr().out
    assert "destino:      cola q4639999" in out
    assert "si quien llama elige «damage»:" in out
    assert "transferir a 2150" in out
    assert (
        "se aplica la regla «danos-viernes-tarde-a-domingo» del tema «damage» (fri 12:00-24:00)"
        in out
    )
    assert "hora local 2026-12-04 15:00 fri (America/La_Paz)" in out
    assert "quien llama eligió el tema «damage»" in out


def test_resolve_json_with_topic_and_segment(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["routing", "resolve", LAB, "--dialed", "101", "--at", "2026-12-04T15:00Z"]
    assert main([*argv, "--segment", "corporativo", "--json"]) == 0
    decision = json.loads(capsys.readouterr().out)
    assert decision["priority"] == 15
    assert decision["at"] == "2026-12-04T11:00:00-04:00"
    argv = ["routing", "resolve", LAB, "--dialed", "4639999", "--at", "2026-12-04T11:59"]
    assert main([*argv, "--topic", "damage", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["destination_kind"] == "queue"


def test_resolve_unknown_number_and_bad_time(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["routing", "resolve", SHIPPED, "--dialed", "999", "--at", "2026-12-04T15:00"]) == 1
    assert "ningún servicio atiende el número marcado «999»" in capsys.readouterr().err
    assert main(["routing", "resolve", SHIPPED, "--dialed", "101", "--at", "tomorrow"]) == 2
