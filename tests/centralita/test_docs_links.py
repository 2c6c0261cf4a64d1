"""The README and docs/ point only at what exists: relative links, their anchors and the
repository paths they name in backticks; nothing outside the repository; and the README
lists every sub-command the CLI has."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from centralita.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
TOP_DIRS = ("centralita/", "docs/", "deploy/", "tests/", "bench/", ".ci/")
LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors of a Markdown file."""
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *#*$", FENCE.sub("", path.read_text("utf-8")), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


@pytest.mark.parametrize("doc", DOCS, ids=_name)
def test_relative_links_point_at_files_in_the_repository(doc: Path) -> None:
    text = FENCE.sub("", doc.read_text("utf-8"))
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target):
            assert target.startswith(("https://", "http://")), (doc, target)
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (doc.parent / path_part).resolve() if path_part else doc
        assert resolved.is_relative_to(ROOT), f"{_name(doc)}: {target} leaves the repository"
        assert resolved.exists(), f"{_name(doc)}: {target} does not exist"
        if anchor and resolved.suffix == ".md":
            assert anchor in anchors(resolved), f"{_name(doc)}: no heading for {target}"


@pytest.mark.parametrize("doc", DOCS, ids=_name)
def test_repository_paths_named_in_backticks_exist(doc: Path) -> None:
    """`docs/mqtt.md`, `deploy/centralita.service`...; patterns (`<pbx>`, `*`) excepted."""
    for token in CODE_SPAN.findall(doc.read_text("utf-8")):
        if not token.startswith(TOP_DIRS) or " " in token or re.search(r"[<>{}#…]", token):
            continue
        if "*" in token:
            assert list(ROOT.glob(token)), f"{_name(doc)}: nothing matches {token}"
        else:
            assert (ROOT / token).exists(), f"{_name(doc)}: {token} does not exist"


@pytest.mark.parametrize("doc", DOCS, ids=_name)
def test_nothing_outside_the_repository(doc: Path) -> None:
    text = doc.read_text("utf-8")
    assert "../shared" not in text
    assert not re.search(r"(?<![\w.])/(work|home|tmp)/", text), _name(doc)


def leaf_commands(parser: argparse.ArgumentParser, prefix: str = "centralita") -> list[str]:
    """``centralita A B`` for every sub-command that runs something."""
    found: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.extend(leaf_commands(sub, f"{prefix} {name}"))
    return found or [prefix]


def test_readme_lists_every_sub_command() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    listed = {line.split("#", 1)[0].rstrip() for line in section.splitlines()}
    commands = leaf_commands(build_parser())
    assert len(commands) > 30
    for command in commands:
        assert any(line == command or line.startswith(command + " ") for line in listed), (
            f"README's Commands section does not list `{command}`"
        )
