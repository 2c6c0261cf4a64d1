"""`centralita scripts check` and `centralita scripts show`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from centralita.cli import main
from centralita.scripts.loader import data_files


def copy_packaged(target: Path) -> None:
    for entry in data_files().iterdir():
        if entry.name.endswith(".toml"):
            (target / entry.name).write_text(entry.read_text(encoding="utf-8"), "utf-8")


def test_check_packaged(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scripts", "check"]) == 0
    assert capsys.readouterr().out == "correcto: 11 guiones\n"


def test_check_directory_with_a_broken_script(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy_packaged(tmp_path)
    assert main(["scripts", "check", str(tmp_path)]) == 0
    capsys.readouterr()
    path = tmp_path / "101.toml"
    path.write_text(path.read_text("utf-8").replace("goto = 11", "goto = 14"), "utf-8")
    assert main(["scripts", "check", str(tmp_path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"{tmp_path}/101.toml: $.steps[5].branches[2].goto: paso desconocido 14",
        "1 problema(s)",
    ]


def test_check_missing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scripts", "check", str(tmp_path / "nada")]) == 1
    assert "nada: no existe o no es un directorio" in capsys.readouterr().err


def test_show_prints_spanish(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scripts", "show", "101"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("A) 101 RECLAMOS TÉCNICOS\n")
    assert "AGENTE CENTRO DE LLAMADAS" in out
    assert (
        "   • Si la orden de trabajo se encuentra en estado Registrado ó en Ejecución, "
        "continúa con paso 8 → paso 8"
    ) in out
    assert "RESULTADOS" in out
    assert "[dano_generado] Daño a producto generado en Smartflex; continúa con" in out


def test_show_prepago_uses_the_documents_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scripts", "show", "prepago"]) == 0
    out = capsys.readouterr().out
    assert "SUPERVISORA CENTRO DE LLAMADAS" in out
    assert "Agente 2. Realiza llamadas a clientes" in out
    assert "sigue agente en paso Agente 1" in out


def test_show_from_a_broken_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "104.toml").write_text('id = "104"\n', "utf-8")
    assert main(["scripts", "show", "104", "--dir", str(tmp_path)]) == 1
    assert "104.toml: $: falta el campo obligatorio «" in capsys.readouterr().err


def test_show_unknown_id_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as caught:
        main(["scripts", "show", "999"])
    assert caught.value.code == 2


def test_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scripts", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "Script" in schema["$defs"]
