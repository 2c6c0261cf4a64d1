"""`centralita campaign ...` end to end on a SQLite file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from campaigns.commands import register
from tests.campaigns.conftest import LIST_HEADER, customer_list, write


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(argv)
    func: Any = args.func
    return int(func(args))


def test_import_report_pause_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    bad = write(tmp_path / "bad.csv", f"{LIST_HEADER}\nC1,12ab,TV,Ana,2025-03-28\n")
    assert run("campaign", "import", str(bad), "--db", db) == 1
    err = capsys.readouterr().err
    assert "1 linea(s) con error, no se importo nada" in err
    assert 'linea 2: telefono "12ab" invalido' in err
    good = write(tmp_path / "good.csv", customer_list(4))
    assert run("campaign", "import", str(good), "--db", db) == 0
    assert "campaña 2025-03: 4 clientes importados" in capsys.readouterr().out
    assert run("campaign", "pause", "--month", "2025-03", "--db", db) == 0
    assert "pausada" in capsys.readouterr().out
    assert run("campaign", "resume", "--month", "2025-03", "--db", db) == 0
    assert run("campaign", "report", "--month", "2025-03", "--db", db) == 0
    assert "Por servicio" in capsys.readouterr().out
    out = tmp_path / "r.xlsx"
    assert (
        run(
            "campaign",
            "report",
            "--month",
            "2025-03",
            "--format",
            "xlsx",
            "--out",
            str(out),
            "--db",
            db,
        )
        == 0
    )
    assert out.stat().st_size > 0
    assert run("campaign", "report", "--month", "2024-01", "--db", db) == 1
    assert "no hay campana para 2024-01" in capsys.readouterr().err


def test_result_needs_an_answered_attempt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    assert run("campaign", "result", "7", "informado", "--agent", "a1", "--db", db) == 1
    assert "el intento 7 no existe" in capsys.readouterr().err
