"""The employee directory (P_EMPLEADOS): import with per-line refusals, replace-all,
accent- and case-insensitive search; through `centralita employees` on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa

from centralita.ami_listener.store import make_engine
from centralita.cli import main
from centralita.console.employee_import import parse_employees_csv
from centralita.console.employees import Employee, employees, fold, search_employees
from centralita.db import open_engine
from tests.conftest import FIXTURES

DIRECTORY = """\ufeffnombre;área;cargo;interno;teléfono;correo
María José Gómez Rojas;Gerencia Técnica;Jefa de Planta Externa;2150;;mgomez@example.com
Juan Pérez Ñuflo;Gerencia Comercial;Ejecutivo de ventas;2301;+591 4 4251000;
Ana Quiroga;Sistemas;Analista 100%_real;21;71234567;ana@example.com
Mesa de partes;Secretaría General;;;4250001;
Juan Pérez Ñuflo;Gerencia Comercial;Duplicado;2301;;
Sin Destino;Archivo;;;;
Interno Malo;Archivo;;21a;;
Correo Malo;Archivo;;2999;;no-es-correo
;Archivo;;2998;;
Campos De Menos;Archivo;2997
Teléfono Malo;Archivo;;;12345;
"""
GOOD_LINES = 4
REFUSED = {
    6: "repite la línea 3",
    7: "falta el interno o el teléfono",
    8: "interno «21a» inválido",
    9: "correo «no-es-correo» inválido",
    10: "falta nombre",
    11: "se esperan 6 campos, hay 3",
    12: "teléfono «12345» inválido",
}


async def cli(argv: list[str]) -> int:
    """`centralita ARGV` in-process (it runs its own event loop: in a thread)."""
    return await asyncio.to_thread(main, argv)


def write(tmp_path: Path, text: str, name: str = "empleados.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


async def names_in(db_url: str) -> list[str]:
    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            return sorted((await conn.scalars(sa.select(employees.c.name))).all())
    finally:
        await engine.dispose()


async def test_import_refuses_bad_lines_by_number_and_imports_the_rest(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, DIRECTORY)
    assert await cli(["employees", "import", str(path), "--db", db_url]) == 1
    out, err = capsys.readouterr()
    assert f"{GOOD_LINES} empleado(s) importado(s)" in out
    assert f"{len(REFUSED)} línea(s) rechazada(s)" in err
    for line, reason in REFUSED.items():
        assert any(f"{path}:{line}: " in row and reason in row for row in err.splitlines()), (
            line,
            err,
        )
    assert "Traceback" not in err
    assert await names_in(db_url) == [
        "Ana Quiroga",
        "Juan Pérez Ñuflo",
        "María José Gómez Rojas",
        "Mesa de partes",
    ]
    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(sa.select(employees).where(employees.c.extension == "2301"))
            ).one()
    finally:
        await engine.dispose()
    assert row.phone == "44251000", "+591 and blanks removed"
    assert row.source_line == 3
    assert row.email == ""


async def test_each_import_replaces_the_whole_directory(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = write(tmp_path, DIRECTORY, "uno.csv")
    assert await cli(["employees", "import", str(first), "--db", db_url]) == 1
    second = write(
        tmp_path, "name,department,extension\nRosa Vargas,Contabilidad,2500\n", "dos.csv"
    )
    assert await cli(["employees", "import", str(second), "--db", db_url]) == 0
    assert await names_in(db_url) == ["Rosa Vargas"]
    capsys.readouterr()
    assert await cli(["employees", "list", "--db", db_url]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].split() == ["INTERNO", "TELÉFONO", "NOMBRE", "ÁREA", "CARGO", "CORREO"]
    assert listed[1].split() == ["2500", "Rosa", "Vargas", "Contabilidad"]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("", "archivo vacío"),
        ("nombre;cargo;interno\nX;Y;2100\n", "faltan columnas: area"),
        ("nombre,area,piso,interno\nX,Y,3,2100\n", "columnas desconocidas: 'piso'"),
        ("nombre,area,name,interno\nX,Y,Z,2100\n", "columnas repetidas: nombre"),
        ("nombre,area,interno\nX,Y,1\nZ,W,\n", "ninguna línea válida"),
    ],
)
async def test_an_unusable_file_changes_nothing(
    text: str, said: str, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kept = write(tmp_path, "nombre,area,interno\nRosa Vargas,Contabilidad,2500\n", "ok.csv")
    assert await cli(["employees", "import", str(kept), "--db", db_url]) == 0
    capsys.readouterr()
    bad = write(tmp_path, text, "malo.csv")
    assert await cli(["employees", "import", str(bad), "--db", db_url]) == 2
    err = capsys.readouterr().err
    assert said in err
    assert "Traceback" not in err
    assert await names_in(db_url) == ["Rosa Vargas"]


async def test_not_utf8_a_capture_and_a_missing_file_are_one_spanish_line(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("nombre,area,interno\nJosé,Técnica,2100\n".encode("latin-1"))
    assert await cli(["employees", "import", str(latin1), "--db", sqlite_url]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no es texto UTF-8" in err
    capture = FIXTURES / "GIT-11-f3cdc37300-scenario.ami"
    assert await cli(["employees", "import", str(capture), "--db", sqlite_url]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "parece una captura AMI" in err
    missing = tmp_path / "no-esta.csv"
    assert await cli(["employees", "import", str(missing), "--db", sqlite_url]) == 2
    assert "el archivo no existe" in capsys.readouterr().err


async def test_search_without_accents_or_case_and_by_extension(db_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, DIRECTORY)
    engine = await open_engine(db_url)
    try:
        from centralita.console.employee_import import import_employees

        await import_employees(engine, path)

        async def names(text: str) -> list[str]:
            return [e.name for e in await search_employees(engine, text)]

        assert await names("GOMEZ") == ["María José Gómez Rojas"]
        assert await names("gómez técnica") == ["María José Gómez Rojas"]
        assert await names("tecnica gomez") == ["María José Gómez Rojas"]
        assert await names("planta externa") == ["María José Gómez Rojas"], "position too"
        assert await names("nuflo") == ["Juan Pérez Ñuflo"]
        assert await names("gerencia") == ["Juan Pérez Ñuflo", "María José Gómez Rojas"]
        assert await names("secretaria") == ["Mesa de partes"]
        assert await names("gomez comercial") == [], "every word must match"
        assert await names("100%") == ["Ana Quiroga"], "% is a character, not a wildcard"
        assert await names("%") == ["Ana Quiroga"]
        assert await names("_") == ["Ana Quiroga"]
        assert await names("   ") == []
        assert await names("21") == ["Ana Quiroga", "María José Gómez Rojas"], "exact first"
        assert await names("2150") == ["María José Gómez Rojas"]
        assert await names("23 01") == ["Juan Pérez Ñuflo"]
        assert await names("4250001") == ["Mesa de partes"], "a phone, when no internal"
        assert await names("999") == []
        found = await search_employees(engine, "2", limit=2)
        assert len(found) == 2
        assert found[0] == Employee(
            name="Ana Quiroga",
            area="Sistemas",
            position="Analista 100%_real",
            extension="21",
            phone="71234567",
            email="ana@example.com",
        )
    finally:
        await engine.dispose()


async def test_search_command(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, DIRECTORY)
    assert await cli(["employees", "import", str(path), "--db", sqlite_url]) == 1
    capsys.readouterr()
    assert await cli(["employees", "search", "JOSE gomez", "--db", sqlite_url]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    assert out[1].startswith("2150 ")
    assert await cli(["employees", "search", "nadie", "--db", sqlite_url]) == 1
    assert "ningún empleado coincide con «nadie»" in capsys.readouterr().err


async def test_empty_directory_list_says_how_to_load_it(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await cli(["employees", "list", "--db", sqlite_url]) == 1
    assert "centralita employees import" in capsys.readouterr().err


async def test_db_defaults_to_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("CENTRALITA_DB_URL", url)
    path = write(tmp_path, "nombre,area,interno\nRosa Vargas,Contabilidad,2500\n")
    assert await cli(["employees", "import", str(path)]) == 0
    assert await names_in(url) == ["Rosa Vargas"]


def test_comma_file_and_english_header(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'Name,Area,Position,Extension,Phone,E-mail\n"Vargas, Rosa",Contabilidad,,2500,,\n',
    )
    rows, refused = parse_employees_csv(path)
    assert refused == []
    assert [(r["name"], r["extension"], r["phone"]) for r in rows] == [
        ("Vargas, Rosa", "2500", None)
    ]


async def test_control_characters_are_refused_on_both_databases(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A NUL (PostgreSQL refuses it in text) or another control character: the line is
    refused with its reason, the rest imported."""
    path = tmp_path / "control.csv"
    path.write_bytes(
        b"nombre,area,interno,correo\n"
        b"Rosa\x00Vargas,Contabilidad,2500,\n"
        b"Juan Rojas,Archivo\x1b,2501,\n"
        b"Ana Soliz,Archivo,2502,ana@example.com\x00\n"
        b'"Luis\tPaz\nCamacho",Archivo,2503,\n'
    )
    assert await cli(["employees", "import", str(path), "--db", db_url]) == 1
    err = capsys.readouterr().err
    assert f"{path}:2: nombre tiene caracteres de control" in err
    assert f"{path}:3: area tiene caracteres de control" in err
    assert f"{path}:4: correo tiene caracteres de control" in err
    assert await names_in(db_url) == ["Luis Paz Camacho"], "tabs and line breaks are blanks"


def test_fold() -> None:
    assert fold("  MARÍA   Ñandú  ") == "maria nandu"
    assert fold("Gerencia Técnica") == "gerencia tecnica"


async def test_migration_makes_the_table_as_defined(db_url: str) -> None:
    engine = await open_engine(db_url)
    try:
        async with engine.connect() as conn:
            columns, indexes = await conn.run_sync(
                lambda c: (
                    {
                        col["name"]: col["nullable"]
                        for col in sa.inspect(c).get_columns("employees")
                    },
                    {i["name"] for i in sa.inspect(c).get_indexes("employees")},
                )
            )
    finally:
        await engine.dispose()
    assert columns == {c.name: c.nullable for c in employees.columns}
    assert "ix_employees_extension" in indexes
