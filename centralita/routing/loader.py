"""Reading a routing file: TOML → typed structs → semantic checks → `RoutingTable`."""

from __future__ import annotations

import hashlib
import importlib.resources
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from centralita.routing import decode_errors
from centralita.routing.exceptions import RoutingConfigError
from centralita.routing.model import RoutingConfig
from centralita.routing.table import RoutingTable
from centralita.routing.validate import check

FILE_PLACE = "(archivo)"
"""The place of a problem about the whole file (unreadable, not TOML, wrong top level)."""


def parse_routing(text: str, source: str = "<string>") -> RoutingTable:
    """Parse and validate routing TOML text.

    Raises:
        RoutingConfigError: with one path-named message per problem.
    """
    try:
        raw: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        reason = decode_errors.toml_reason(exc)
        raise RoutingConfigError(source, [f"{FILE_PLACE}: {reason}"]) from exc
    try:
        config = msgspec.convert(raw, RoutingConfig)
    except msgspec.ValidationError as exc:
        raise RoutingConfigError(source, [_path_named(str(exc))]) from exc
    errors = check(config)
    if errors:
        raise RoutingConfigError(source, errors)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return RoutingTable(config, source, digest=digest)


def load_routing(path: str | Path) -> RoutingTable:
    """Read, parse and validate a routing file.

    Raises:
        RoutingConfigError: the file is unreadable or invalid.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = decode_errors.read_reason(exc)
        raise RoutingConfigError(source, [f"{FILE_PLACE}: {reason}"]) from exc
    return parse_routing(text, source)


def default_routing_path() -> Path:
    """Path of the shipped example routing file (the call center of the procedure)."""
    resource = importlib.resources.files("centralita.routing") / "data" / "routing.toml"
    return Path(str(resource))


def _path_named(message: str) -> str:
    """msgspec's `Expected `str`, got `int` - at `$.service[3].queue`` as
    `service[3].queue: se esperaba texto, llegó un número`."""
    path, reason = decode_errors.split(message)
    place = path.removeprefix("$").removeprefix(".") or FILE_PLACE
    return f"{place}: {reason}"
