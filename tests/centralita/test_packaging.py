"""The installed distribution has one top-level import name, and ships every part."""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_packages  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]


def _packages() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    return list(find_packages(where=str(ROOT), include=include))


def test_one_top_level_import_name() -> None:
    packages = _packages()
    assert {name.split(".")[0] for name in packages} == {"centralita"}


def test_every_part_with_code_is_shipped() -> None:
    shipped = set(_packages())
    folders = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for path in (ROOT / "centralita").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert folders - shipped == set()
    parts = ("ami_listener", "screenpop", "console", "metrics", "simulator", "campaigns", "scripts")
    for part in parts:
        assert f"centralita.{part}" in shipped


def test_nothing_outside_centralita_is_a_package() -> None:
    # A stray top-level package (an old folder left behind) would land in site-packages.
    stray = [
        p.name
        for p in ROOT.iterdir()
        if (p / "__init__.py").exists() and p.name not in {"centralita", "tests", "bench"}
    ]
    assert stray == []
