"""Generated config from the shipped routing.toml equals the golden files, per dialect.

Regenerate after an intended change: CENTRALITA_UPDATE_GOLDEN=1 pytest tests/asterisk_conf
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from centralita.asterisk_conf import GeneratorOptions, generate
from centralita.routing import RoutingTable, default_routing_path, load_routing

GOLDEN = Path(__file__).parent / "golden"
FILES = ("extensions_custom.conf", "queues_custom.conf", "manager_custom.conf")


@pytest.fixture(scope="module")
def table() -> RoutingTable:
    return load_routing(default_routing_path())


@pytest.mark.parametrize("version", ["11", "18"])
def test_matches_golden(table: RoutingTable, version: str) -> None:
    files = generate(table, GeneratorOptions(asterisk=version))
    assert tuple(files) == FILES
    folder = GOLDEN / f"asterisk{version}"
    if os.environ.get("CENTRALITA_UPDATE_GOLDEN") == "1":
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
    for name, text in files.items():
        assert text == (folder / name).read_text(encoding="utf-8"), f"{folder.name}/{name}"


def test_deterministic(table: RoutingTable) -> None:
    again = load_routing(default_routing_path())
    assert generate(table) == generate(again)
    assert generate(table) == generate(table, GeneratorOptions(asterisk="11"))


@pytest.mark.parametrize("version", ["13", "16", "20", "22"])
def test_later_versions_share_the_18_dialect(table: RoutingTable, version: str) -> None:
    later = generate(table, GeneratorOptions(asterisk=version))
    reference = generate(table, GeneratorOptions(asterisk="18"))
    for name in FILES:
        assert later[name] == reference[name].replace("Asterisk 18 ", f"Asterisk {version} ")
