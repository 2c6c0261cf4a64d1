"""`centralita campaign ...` end to end on a SQLite file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from centralita.campaigns.commands import register
from centralita.cli import open_db
from tests.campaigns.conftest import LIST_HEADER, customer_list, write


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    parser.set_defaults(open_db=open_db)  # as centralita.cli does: migrated to head
    register(parser.add_subparsers())
    args = parser.parse_args(argv)
    func: Any = args.func
    return int(func(args))


def test_import_report_pause_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    bad = write(tmp_path / "bad.csv", f"{LIST_HEADER}\nC1,12ab,TV,Ana,2025-03-28\n")
    assert run("campaign", "import", str(bad), "--db", db) == 1
    err = capsys.readouterr().err
    assert "1 línea(s) con error, no se importó nada" in err
    assert 'línea 2: teléfono "12ab" inválido' in err
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
    assert "no hay campaña para 2024-01" in capsys.readouterr().err


def test_result_needs_an_answered_attempt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    assert run("campaign", "result", "7", "informado", "--agent", "a1", "--db", db) == 1
    assert "el intento 7 no existe" in capsys.readouterr().err


def test_report_uses_the_settings_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    assert (
        run("campaign", "import", str(write(tmp_path / "l.csv", customer_list(2))), "--db", db) == 0
    )
    capsys.readouterr()
    config = write(tmp_path / "campaign.toml", "[window]\nstart_day = 20\n")
    assert run("campaign", "report", "--month", "2025-03", "--config", str(config), "--db", db) == 0
    assert "(llamadas del 2025-02-20 al 2025-03-31)" in capsys.readouterr().out
    assert run("campaign", "report", "--month", "2025-03", "--db", db) == 0
    assert "(llamadas del 2025-02-25 al 2025-03-31)" in capsys.readouterr().out
    bad = write(tmp_path / "bad.toml", "[window]\nstart_day = 0\n")
    assert run("campaign", "report", "--month", "2025-03", "--config", str(bad), "--db", db) == 1
    assert "start_day" in capsys.readouterr().err
