"""Every ``--db`` mistake is one Spanish line and a non-zero exit, never a traceback; a
URL that cannot be right exits 2 (a user's mistake), a server that is not there 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from centralita.cli import main
from tests.conftest import PG_HOST, PG_PORT, require_service


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if not ln.startswith("{")]  # JSON log lines
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("centralita: --db: ")
    return lines[0]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("not a url", "no es una URL de base de datos"),
        ("mysql://x@h/db", "no está soportada"),
        ("foo://bar", "la base «foo» no está soportada"),
        ("postgresql+psycopg2://u@h/db", "postgresql+asyncpg://"),
        ("sqlite:///x.db", "sqlite+aiosqlite:///"),
        ("postgresql://u@127.0.0.1/test", "postgresql+asyncpg://"),
        ("sqlite+aiosqlite:////no/such/folder/x.db", "la carpeta /no/such/folder no existe"),
    ],
)
@pytest.mark.parametrize("command", ["calls", "db-migrate", "rebuild"])
def test_a_wrong_db_url_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], url: str, says: str, command: str
) -> None:
    code, err = run(capsys, command, "--db", url)
    assert code == 2
    assert says in one_line(err)


def test_a_file_that_is_not_a_database(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("hola\n" * 200)
    code, err = run(capsys, "calls", "--db", f"sqlite+aiosqlite:///{bogus}")
    assert code == 1
    assert "no es un archivo de base de datos SQLite" in one_line(err)
    assert bogus.read_text() == "hola\n" * 200  # untouched


def test_a_server_that_is_not_there(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, "calls", "--db", "postgresql+asyncpg://127.0.0.1:1/x")
    assert code == 1
    assert "no se pudo conectar" in one_line(err)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"postgresql+asyncpg://{PG_HOST}:{PG_PORT}/no_such_db_centralita", "no existe en el"),
        (f"postgresql+asyncpg://no_such_role@{PG_HOST}:{PG_PORT}/test", "usuario"),
    ],
)
def test_a_missing_database_or_role(
    capsys: pytest.CaptureFixture[str], url: str, says: str
) -> None:
    require_service("PostgreSQL", PG_HOST, PG_PORT)
    code, err = run(capsys, "calls", "--db", url)
    assert code == 1
    assert says in one_line(err)


def test_debug_keeps_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(Exception, match="no es una URL"):
        main(["--debug", "calls", "--db", "not a url"])


def test_the_password_is_never_shown(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, "calls", "--db", "postgresql+asyncpg://u:s3cr3t-pw@127.0.0.1:1/x")
    assert code == 1
    assert "s3cr3t-pw" not in err and "***" in one_line(err)


@pytest.mark.parametrize(
    "command",
    [
        ["report", "--month", "2026-03"],
        ["import-queue-log", "QUEUE_LOG"],
        ["customers", "import", "CSV"],
        ["campaign", "pause", "--month", "2026-03"],
        ["ingest-file", "CAPTURE"],
    ],
    ids=lambda c: " ".join(c[:2]),
)
@pytest.mark.parametrize(
    ("url", "says", "code"),
    [
        ("foo://bar", "la base «foo» no está soportada", 2),
        ("sqlite:///x.db", "sqlite+aiosqlite:///", 2),
        ("postgresql+asyncpg://127.0.0.1:1/x", "no se pudo conectar", 1),
    ],
    ids=["scheme", "sync-driver", "refused"],
)
def test_every_part_says_the_same_db_line(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    command: list[str],
    url: str,
    says: str,
    code: int,
) -> None:
    from tests.conftest import FIXTURES

    csv = tmp_path / "c.csv"
    csv.write_text("contract,name,segment\nC1,Ana,residencial\n")
    files = {
        "QUEUE_LOG": str(FIXTURES / "GIT-master-f0c1c1a7b7-queue_log"),
        "CAPTURE": str(FIXTURES / "GIT-master-f0c1c1a7b7-scenario.ami"),
        "CSV": str(csv),
    }
    got, err = run(capsys, *(files.get(a, a) for a in command), "--db", url)
    assert got == code
    assert says in one_line(err)


def test_a_path_that_cannot_be_written(tmp_path: Path) -> None:
    """The database path is a folder (root may write anywhere, so no chmod here). In a
    process of its own: aiosqlite's worker thread outlives a failed connect and would
    report into the next test."""
    import subprocess
    import sys

    folder = tmp_path / "a-folder.db"
    folder.mkdir()
    url = f"sqlite+aiosqlite:///{folder}"
    proc = subprocess.run(
        [sys.executable, "-m", "centralita.cli", "db-migrate", "--db", url],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "no se puede abrir ni escribir" in one_line(proc.stderr)
    assert proc.stdout == ""
