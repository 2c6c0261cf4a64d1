"""One schema path: whatever command meets a database first, every other works after it.

Each command that opens the database brings it to Alembic head first
(`centralita.db.open_engine`); a database whose tables an older version created without
Alembic (``create_all``, no ``alembic_version`` row) is completed and stamped by the next
command. Driven in-process through `centralita.cli.main`, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from centralita.ami_listener.store import make_engine
from centralita.campaigns.importer import import_customer_list
from centralita.campaigns.schema import customers_in_list
from centralita.campaigns.schema import metadata as campaign_metadata
from centralita.cli import main
from centralita.db import alembic_config, all_metadata
from centralita.ivr.schema import metadata as ivr_metadata
from centralita.metrics.schema import metadata as metrics_metadata
from tests.campaigns.conftest import customer_list
from tests.conftest import FIXTURES
from tests.ivr.test_customer_import import GOOD as CUSTOMERS_CSV

CAPTURE = "GIT-11-f3cdc37300"
CAPTURE_MONTH = "2026-11"
LIST_MONTH = "2025-03"
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


def first_commands(tmp_path: Path, db: str) -> dict[str, list[str]]:
    """The commands a fresh installation may run first, each with its input file."""
    campaign_list = tmp_path / "lista.csv"
    campaign_list.write_text(customer_list(4, month=LIST_MONTH), encoding="utf-8")
    customers = tmp_path / "clientes.csv"
    customers.write_text(CUSTOMERS_CSV, encoding="utf-8")
    return {
        "campaign import": ["campaign", "import", str(campaign_list), "--db", db],
        "import-queue-log": [
            "import-queue-log",
            str(FIXTURES / f"{CAPTURE}-queue_log"),
            "--db",
            db,
            "--pbx",
            "lab",
        ],
        "customers import": ["customers", "import", str(customers), "--db", db],
        "ingest-file": [
            "ingest-file",
            str(FIXTURES / f"{CAPTURE}-scenario.ami"),
            "--db",
            db,
            "--pbx",
            "lab",
        ],
        "db-migrate": ["db-migrate", "--db", db],
    }


async def cli(argv: list[str]) -> int:
    """`centralita ARGV` in-process (it runs its own event loop: in a thread)."""
    return await asyncio.to_thread(main, argv)


async def schema_state(db: str) -> tuple[list[str], set[str]]:
    """The Alembic version rows and the table names of the database."""
    engine = make_engine(db)
    try:
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
            versions = (
                [
                    str(v)
                    for v in (
                        await conn.scalars(sa.text("SELECT version_num FROM alembic_version"))
                    )
                ]
                if "alembic_version" in names
                else []
            )
    finally:
        await engine.dispose()
    return versions, names


def every_table() -> set[str]:
    return {t.name for md in all_metadata() for t in md.sorted_tables}


async def run_everything_after(
    first: str, commands: dict[str, list[str]], db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every other first command, then the readers: all exit 0, with the data of each."""
    for name, argv in commands.items():
        if name != first:
            assert await cli(argv) == 0, name
    capsys.readouterr()
    assert await cli(["calls", "--db", db, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows, "the capture's calls are listed"
    assert {row["pbx_id"] for row in rows} == {"lab"}
    argv = ["report", "--month", CAPTURE_MONTH, "--db", db, "--format", "json", "--pbx", "lab"]
    assert await cli(argv) == 0
    assert json.loads(capsys.readouterr().out)
    assert await cli(["campaign", "report", "--month", LIST_MONTH, "--db", db]) == 0
    assert "Por servicio" in capsys.readouterr().out
    assert await cli(["db-migrate", "--db", db]) == 0
    versions, names = await schema_state(db)
    assert versions == [HEAD]
    assert every_table() <= names


@pytest.mark.parametrize(
    "first",
    ["campaign import", "import-queue-log", "customers import", "ingest-file", "db-migrate"],
)
async def test_any_first_command_then_every_other(
    first: str, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commands = first_commands(tmp_path, db_url)
    assert await cli(commands[first]) == 0
    versions, names = await schema_state(db_url)
    assert versions == [HEAD], "the first command leaves the schema under Alembic, at head"
    assert every_table() <= names
    await run_everything_after(first, commands, db_url, capsys)


async def make_legacy(db: str, tmp_path: Path, *, older: bool, empty_version: bool) -> None:
    """What older versions left: the tables of some packages by create_all, no version row.

    ``older``: a version before migrations 0005/0006 (no ql_follow_state, no
    ix_ql_lines_verb_time, and on PostgreSQL 64-character callids).
    ``empty_version``: an ``alembic_version`` table without rows (a first upgrade that
    failed half-way on SQLite).
    """
    engine = make_engine(db)
    try:
        async with engine.begin() as conn:
            for md in (campaign_metadata, metrics_metadata, ivr_metadata):
                await conn.run_sync(md.create_all)
            if older:
                await conn.execute(sa.text("DROP INDEX ix_ql_lines_verb_time"))
                await conn.execute(sa.text("DROP TABLE ql_follow_state"))
                if conn.dialect.name == "postgresql":
                    await conn.execute(
                        sa.text("ALTER TABLE ql_lines ALTER COLUMN callid TYPE VARCHAR(64)")
                    )
            if empty_version:
                await conn.execute(
                    sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
                )
        listing = tmp_path / "vieja.csv"
        listing.write_text(customer_list(3, month=LIST_MONTH, start=5000), encoding="utf-8")
        await import_customer_list(engine, listing, month=None, now_ms=0)
    finally:
        await engine.dispose()


@pytest.mark.parametrize(("older", "empty_version"), [(False, False), (True, False), (False, True)])
async def test_a_database_left_by_the_old_first_import_is_upgraded_in_place(
    older: bool,
    empty_version: bool,
    db_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await make_legacy(db_url, tmp_path, older=older, empty_version=empty_version)
    versions, names = await schema_state(db_url)
    assert versions == [] and "ami_events" not in names  # the bug's state
    commands = first_commands(tmp_path, db_url)
    assert await cli(commands["ingest-file"]) == 0
    versions, names = await schema_state(db_url)
    assert versions == [HEAD]
    assert every_table() <= names
    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            indexes = await conn.run_sync(
                lambda c: {i["name"] for i in sa.inspect(c).get_indexes("ql_lines")}
            )
            kept = await conn.scalar(sa.select(sa.func.count()).select_from(customers_in_list))
            callid = await conn.run_sync(
                lambda c: {
                    col["name"]: col["type"] for col in sa.inspect(c).get_columns("ql_lines")
                }["callid"]
            )
    finally:
        await engine.dispose()
    assert kept == 3, "the old campaign's list is kept"
    assert "ix_ql_lines_verb_time" in indexes
    if db_url.startswith("postgresql"):
        assert getattr(callid, "length", None) == 150
    await run_everything_after("ingest-file", commands, db_url, capsys)


async def test_an_old_table_missing_a_column_is_refused_in_one_line(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("CREATE TABLE ql_calls (pbx_id VARCHAR(64) NOT NULL)"))
    finally:
        await engine.dispose()
    capsys.readouterr()
    assert await cli(["calls", "--db", db_url]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "faltan columnas (ql_calls.uniqueid" in err
    versions, names = await schema_state(db_url)
    assert versions == [] and names == {"ql_calls"}  # nothing changed


SCHEMA_MAKERS = {"create_all", "create_schema", "create_report_indexes"}
# (module file, enclosing function) allowed to make tables outside the migrations: the
# adoption of unversioned databases in the one schema path, and the two helpers kept for
# tests and benchmarks (which nothing in production calls).
ALLOWED = {
    ("centralita/db.py", "_adopt_unversioned"),
    ("centralita/ami_listener/store.py", "create_schema"),
    ("centralita/metrics/schema.py", "create_schema"),
}
PACKAGES = ("centralita",)  # every part of the product lives under it


def schema_makers_outside_migrations(root: Path) -> list[str]:
    """Every use of create_all / create_schema / create_report_indexes in the packages."""
    import ast

    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if rel.startswith("centralita/migrations/"):
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))

            def visit(node: ast.AST, where: str, rel: str = rel) -> None:
                name = None
                if isinstance(node, ast.Attribute):
                    name = node.attr
                elif isinstance(node, ast.Name):
                    name = node.id
                elif isinstance(node, ast.ImportFrom):
                    hits = [a.name for a in node.names if a.name in SCHEMA_MAKERS]
                    name = hits[0] if hits else None
                if name in SCHEMA_MAKERS and (rel, where) not in ALLOWED:
                    found.append(f"{rel}:{getattr(node, 'lineno', '?')} {name} in {where}")
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    where = node.name
                for child in ast.iter_child_nodes(node):
                    visit(child, where)

            visit(tree, "<module>")
    return found


def test_no_package_makes_tables_outside_the_migrations() -> None:
    root = Path(__file__).resolve().parents[2]
    assert schema_makers_outside_migrations(root) == []
