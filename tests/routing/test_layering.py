"""routing is a leaf; asterisk_conf imports routing only (until import-linter runs in CI)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PARTS = {
    "ami_listener", "ivr", "routing", "scripts", "asterisk_conf",
    "metrics", "simulator", "console", "campaigns",
}  # fmt: skip


def imported_packages(package: str) -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "centralita" / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] == "centralita" and len(parts) > 1:
                    found.add(parts[1])
    return found & PARTS


@pytest.mark.parametrize(
    ("package", "allowed"), [("routing", set()), ("asterisk_conf", {"routing"})]
)
def test_imports(package: str, allowed: set[str]) -> None:
    assert imported_packages(package) - {package} <= allowed
