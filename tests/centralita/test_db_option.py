"""Every command that touches the database takes the same ``--db``: the option given, else
``$CENTRALITA_DB_URL``, else ``sqlite+aiosqlite:///centralita.db`` (README, "Commands").

The parser is walked, so a new command that takes ``--db`` its own way fails here; each
database command is then run without ``--db`` to show the environment is what it opens.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest

from centralita.cli import build_parser, main
from centralita.metrics.commands import (
    DB_ENV,
    DB_HELP,
    DB_HELP_WITH_CONFIG,
    DEFAULT_DB_URL,
    database_url,
)
from centralita.routing import default_routing_path
from centralita.settings import DatabaseSection, load_settings
from tests.conftest import FIXTURES

CAPTURE = FIXTURES / "GIT-master-f0c1c1a7b7-scenario.ami"
QUEUE_LOG = FIXTURES / "GIT-master-f0c1c1a7b7-queue_log"

# Every command that reads or writes the database, with the arguments it needs besides
# --db ({csv}, {toml}: files made by the test). A command missing here fails the walk.
DB_COMMANDS: dict[str, list[str]] = {
    "run": ["--config", "{toml}"],
    "doctor": ["--config", "{toml}", "--timeout", "0.5", "--events-wait", "0"],
    "ingest-file": [str(CAPTURE)],
    "calls": [],
    "rebuild": [],
    "db-migrate": [],
    "report": ["--month", "2026-03"],
    "supervisor": ["--month", "2026-03"],
    "import-queue-log": [str(QUEUE_LOG)],
    "reconcile": ["--month", "2026-03"],
    "customers import": ["{csv}"],
    "ivr serve": ["--routing", str(default_routing_path()), "--port", "0"],
    "campaign import": ["{csv}"],
    "campaign dnc import": ["{csv}"],
    "campaign payments import": ["{csv}"],
    "campaign report": ["--month", "2026-03"],
    "campaign pause": ["--month", "2026-03"],
    "campaign resume": ["--month", "2026-03"],
    "campaign run": ["--month", "2026-03", "--ami-host", "127.0.0.1"],
    "campaign result": ["1", "informado", "--agent", "ana"],
}
WITH_CONFIG = {"run", "doctor"}  # the settings file's [database] url comes before the default
# Commands whose work is a file, not the database: --db only adds something (closing the
# user's open console sessions) and never defaults to a database file in the working dir.
DB_OPTIONAL = {"console users add"}


def leaf_parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every sub-command parser that runs something, named by its words."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from leaf_parsers(sub, (*path, name))
    if parser.get_default("func") is not None:
        yield " ".join(path), parser


def db_action(parser: argparse.ArgumentParser) -> argparse.Action | None:
    return next((a for a in parser._actions if "--db" in a.option_strings), None)


def test_every_database_command_has_the_same_db_option() -> None:
    found = {}
    for name, parser in leaf_parsers(build_parser()):
        action = db_action(parser)
        if action is not None:
            found[name] = action
    assert set(DB_COMMANDS) <= set(found), set(DB_COMMANDS) - set(found)
    for name, action in found.items():
        assert action.default is None, name  # resolved at run time: database_url
        assert action.metavar == "URL", name
        assert not action.required, name
        if name in DB_OPTIONAL:
            assert f"${DB_ENV}" in (action.help or ""), name
            continue
        want = DB_HELP_WITH_CONFIG if name in WITH_CONFIG else DB_HELP
        assert action.help == want, name
    assert DEFAULT_DB_URL in DB_HELP and f"${DB_ENV}" in DB_HELP


def test_the_default_is_the_environment_then_the_readme_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")
    assert f"`--db` defaults to `${DB_ENV}`, then `{DEFAULT_DB_URL}`" in readme
    assert DatabaseSection().url == DEFAULT_DB_URL  # run/doctor without a config file
    monkeypatch.delenv(DB_ENV, raising=False)
    assert database_url(None) == DEFAULT_DB_URL
    assert load_settings(None).database.url == DEFAULT_DB_URL
    monkeypatch.setenv(DB_ENV, "sqlite+aiosqlite:///from-env.db")
    assert database_url(None) == "sqlite+aiosqlite:///from-env.db"
    assert database_url("sqlite+aiosqlite:///given.db") == "sqlite+aiosqlite:///given.db"
    assert load_settings(None).database.url == "sqlite+aiosqlite:///from-env.db"
    assert load_settings(None, db_url="sqlite+aiosqlite:///g.db").database.url.endswith("g.db")


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    csv = tmp_path / "list.csv"
    csv.write_text("contract,name,segment\nC1,Ana,residencial\n", "utf-8")
    toml = tmp_path / "centralita.toml"
    toml.write_text("[ivr]\nenabled = false\n[http]\nport = 0\n", "utf-8")
    return {"{csv}": str(csv), "{toml}": str(toml)}


@pytest.mark.parametrize("command", sorted(DB_COMMANDS))
def test_each_database_command_opens_the_environments_database(
    command: str,
    files: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without --db, $CENTRALITA_DB_URL is the database: a URL that cannot be right is
    refused with the one --db line, before any work."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(DB_ENV, "foo://bar")
    monkeypatch.setenv("CENTRALITA_AMI_SECRET", "x")  # campaign run and doctor need one
    argv = [*command.split(), *(files.get(a, a) for a in DB_COMMANDS[command])]
    code = main(argv)
    out, err = capsys.readouterr()
    said = "la base «foo» no está soportada"
    if command == "doctor":  # a checklist: the database is its failed line, on stdout
        assert code == 1
        assert any("[FALLA] base de datos" in ln and said in ln for ln in out.splitlines()), out
    else:
        assert code == 2, err
        lines = [ln for ln in err.splitlines() if not ln.startswith("{")]
        assert len(lines) == 1 and said in lines[0], err
    assert "Traceback" not in err
    assert not (tmp_path / "centralita.db").exists()


def test_without_db_nor_environment_the_file_in_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(DB_ENV, raising=False)
    assert main(["import-queue-log", str(QUEUE_LOG)]) == 0
    assert (tmp_path / "centralita.db").is_file()
    first = capsys.readouterr().out
    assert "(0 nuevas)" not in first
    # The same database again, by another part's command: the lines are already there.
    assert main(["import-queue-log", str(QUEUE_LOG), "--db", DEFAULT_DB_URL]) == 0
    assert "(0 nuevas)" in capsys.readouterr().out


def test_every_command_and_option_is_explained_in_spanish(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every sub-command and option has a help text, and argparse's own words (usage,
    headings, refusals) are Spanish."""
    missing = []

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {c.dest: c.help for c in action._choices_actions}
                for name, sub in action.choices.items():
                    if not helps.get(name):
                        missing.append(f"{path} {name}")
                    walk(sub, f"{path} {name}")
            elif not action.help:
                missing.append(f"{path} {action.option_strings or action.dest}")

    walk(build_parser(), "centralita")
    assert missing == []
    with pytest.raises(SystemExit):
        main(["calls", "--help"])
    shown = capsys.readouterr().out
    assert shown.startswith("uso: centralita calls")
    assert "opciones:" in shown and "mostrar esta ayuda y salir" in shown
    with pytest.raises(SystemExit):
        main(["calls", "--format", "xml"])
    err = capsys.readouterr().err
    assert "error: argumento --format: valor inválido: 'xml' (elija entre" in err
