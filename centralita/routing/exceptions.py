"""Errors of the routing package.

RoutingError                  root: catch this to catch everything below
├── RoutingConfigError        the file is unreadable, not TOML, or fails validation;
│                             `.errors` lists path-named messages
│                             (`service[3].queue: cola desconocida «q99»`)
└── UnknownNumberError        `resolve` got a dialed number no service answers
                              (also a `LookupError`)
"""

from __future__ import annotations

from collections.abc import Sequence


class RoutingError(Exception):
    """Root of every error raised by `routing`."""


class RoutingConfigError(RoutingError):
    """A routing file that cannot be used; `errors` holds one message per problem."""

    def __init__(self, source: str, errors: Sequence[str]) -> None:
        self.source = source
        self.errors: list[str] = list(errors)
        summary = "; ".join(self.errors[:3])
        more = f" (+{len(self.errors) - 3} more)" if len(self.errors) > 3 else ""
        super().__init__(f"{source}: invalid routing: {summary}{more}")


class UnknownNumberError(RoutingError, LookupError):
    """No service answers this dialed number."""

    def __init__(self, dialed: str) -> None:
        self.dialed = dialed
        super().__init__(f"no service for dialed number {dialed!r}")
