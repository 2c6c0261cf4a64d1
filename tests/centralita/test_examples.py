"""Every example of docs/examples/ is accepted as it is by the real importer or parser.

Each CSV goes through its `centralita` command into a fresh SQLite database: exit 0 (no
line refused) and one row per data line. The settings sample is read by the daemon's
settings parser; the routing and the campaign settings it points to (shipped in the
package) by `routing check` and `campaign check-config`.
"""

from __future__ import annotations

import asyncio
import csv
import re
import tomllib
from pathlib import Path

import msgspec
import pytest
import sqlalchemy as sa

from centralita.ami_listener.store import make_engine
from centralita.campaigns.schema import customers_in_list, do_not_call, payments
from centralita.cli import main
from centralita.console.employees import employees
from centralita.ivr.schema import customers
from centralita.settings import Settings, parse_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
README = EXAMPLES / "README.md"

# file → (command before the file, table, rows it makes)
CSV_EXAMPLES: dict[str, tuple[list[str], sa.Table, int]] = {
    "clientes.csv": (["customers", "import"], customers, 5),
    "empleados.csv": (["employees", "import"], employees, 6),
    "campana-lista.csv": (["campaign", "import"], customers_in_list, 4),
    "no-llamar.csv": (["campaign", "dnc", "import"], do_not_call, 4),
    "pagos.csv": (["campaign", "payments", "import"], payments, 3),
}
OTHER_EXAMPLES = {"README.md", "centralita.toml"}


async def cli(argv: list[str]) -> int:
    """`centralita ARGV` in-process (it runs its own event loop: in a thread)."""
    return await asyncio.to_thread(main, argv)


async def count(url: str, table: sa.Table) -> int:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)
    finally:
        await engine.dispose()


def test_every_example_is_tested_and_described() -> None:
    files = {p.name for p in EXAMPLES.iterdir() if p.is_file()}
    assert files == set(CSV_EXAMPLES) | OTHER_EXAMPLES
    readme = README.read_text("utf-8")
    for name in files - {"README.md"}:
        assert f"`{name}`" in readme, name


@pytest.mark.parametrize("name", sorted(CSV_EXAMPLES))
async def test_csv_example_is_imported_whole(
    name: str, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    command, table, rows = CSV_EXAMPLES[name]
    path = EXAMPLES / name
    assert await cli([*command, str(path), "--db", sqlite_url]) == 0
    assert capsys.readouterr().err == ""
    assert await count(sqlite_url, table) == rows


def test_every_csv_column_is_described() -> None:
    """Each header cell of a CSV sample has a row in its README table."""
    readme = README.read_text("utf-8")
    for name in CSV_EXAMPLES:
        with (EXAMPLES / name).open(newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle))
        section = readme.split(f"`{name}`\n", 1)[1].split("\n## ", 1)[0]
        for column in header:
            assert re.search(rf"^\| `{re.escape(column)}` \|", section, re.M), (name, column)


def said_default(text: str, key: str) -> str:
    """The default a key's comment gives: on its own line, else on the comment above it."""
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if re.match(rf"^{key} = ", line):
            for candidate in (line, lines[number - 1]):
                found = re.search(r"\(default (.+)\)\.?$", candidate)
                if found:
                    return found.group(1)
            raise AssertionError(f"{key}: no default in its comment")
    raise AssertionError(f"{key}: missing")


def test_settings_example_is_valid_and_states_every_default() -> None:
    """Every section and key is there, and the default its comment gives is the real one."""
    path = EXAMPLES / "centralita.toml"
    text = path.read_text("utf-8")
    settings = parse_settings(text, str(path), env={})
    assert settings.database.url.startswith("postgresql+asyncpg://")
    assert settings.mqtt.tls
    assert settings.queue_log.path
    sections = re.findall(r"^\[(\w+)\]$", text, re.M)
    defaults = Settings()
    checked = 0
    for field in msgspec.structs.fields(Settings):
        default = getattr(defaults, field.name)
        given = getattr(settings, field.name)
        pairs = (
            [
                (sub.name, getattr(default, sub.name), getattr(given, sub.name))
                for sub in msgspec.structs.fields(type(default))
            ]
            if isinstance(default, msgspec.Struct)
            else [(field.name, default, given)]
        )
        if isinstance(default, msgspec.Struct):
            assert field.name in sections, field.name
            section = text.split(f"[{field.name}]\n", 1)[1].split("\n[", 1)[0]
        else:
            section = text.split("\n[", 1)[0]
        for key, value, in_file in pairs:
            said = said_default(section, key)
            stated = in_file if said == "the same" else tomllib.loads(f"v = {said}")["v"]
            assert stated == value, f"{field.name}.{key}: says {said}, default is {value!r}"
            checked += 1
    assert checked >= 40
    assert not re.search(r"^(secret|password) = ", text, re.M)


async def test_shipped_routing_the_readme_points_to_passes_routing_check(
    capsys: pytest.CaptureFixture[str],
) -> None:
    readme = README.read_text("utf-8")
    assert "centralita/routing/data/routing.toml" in readme
    assert await cli(["routing", "check", str(ROOT / "centralita/routing/data/routing.toml")]) == 0
    assert "Traceback" not in capsys.readouterr().err


async def test_shipped_campaign_settings_pass_check_config() -> None:
    path = ROOT / "centralita/campaigns/data/campaign.example.toml"
    assert "centralita/campaigns/data/campaign.example.toml" in README.read_text("utf-8")
    assert await cli(["campaign", "check-config", str(path)]) == 0
