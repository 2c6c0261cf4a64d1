"""Reading a routing file: TOML → typed structs → semantic checks → `RoutingTable`."""

from __future__ import annotations

import importlib.resources
import re
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from routing.exceptions import RoutingConfigError
from routing.model import RoutingConfig
from routing.table import RoutingTable
from routing.validate import check

_MSGSPEC_PATH = re.compile(r"^(?P<msg>.*) - at `\$(?P<path>[^`]*)`$", re.DOTALL)


def parse_routing(text: str, source: str = "<string>") -> RoutingTable:
    """Parse and validate routing TOML text.

    Raises:
        RoutingConfigError: with one path-named message per problem.
    """
    try:
        raw: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RoutingConfigError(source, [f"toml: {exc}"]) from exc
    try:
        config = msgspec.convert(raw, RoutingConfig)
    except msgspec.ValidationError as exc:
        raise RoutingConfigError(source, [_path_named(str(exc))]) from exc
    errors = check(config)
    if errors:
        raise RoutingConfigError(source, errors)
    return RoutingTable(config, source)


def load_routing(path: str | Path) -> RoutingTable:
    """Read, parse and validate a routing file.

    Raises:
        RoutingConfigError: the file is unreadable or invalid.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RoutingConfigError(source, [f"file: cannot read ({exc})"]) from exc
    return parse_routing(text, source)


def default_routing_path() -> Path:
    """Path of the shipped example routing file (the call center of the procedure)."""
    resource = importlib.resources.files("routing") / "data" / "routing.toml"
    return Path(str(resource))


def _path_named(message: str) -> str:
    """Turn msgspec's `Expected `str`, got `int` - at `$.service[3].queue`` around."""
    match = _MSGSPEC_PATH.match(message)
    if match is None:
        return f"(top level): {message}"
    path = match["path"].removeprefix(".") or "(top level)"
    return f"{path}: {match['msg']}"
