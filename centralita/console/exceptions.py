"""Errors of the console package.

ConsoleError
├── UsersFileError        the users file cannot be read, or has an invalid entry
├── AuthenticationError   unknown user or wrong password
├── InteractionError      an interaction does not fit its call or script
└── EmployeeImportError   an employee directory file cannot be imported (nothing changed)
"""

from __future__ import annotations

from dataclasses import dataclass


class ConsoleError(Exception):
    """Root of every console error."""


class UsersFileError(ConsoleError):
    """The users file cannot be read or has an invalid entry (the message names it)."""


class AuthenticationError(ConsoleError):
    """Unknown user or wrong password (deliberately not saying which)."""


class InteractionError(ConsoleError):
    """An interaction does not fit its call or script (bad trail, unknown call...)."""


@dataclass(frozen=True, slots=True)
class RefusedLine:
    """A line of an imported file that was not imported, and why (Spanish)."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"línea {self.line}: {self.reason}"


class EmployeeImportError(ConsoleError):
    """The employee file cannot be imported; the directory is left as it was.

    Attributes:
        refused: the lines refused before the import was given up (may be empty).
    """

    def __init__(self, message: str, *, refused: tuple[RefusedLine, ...] = ()) -> None:
        super().__init__(message)
        self.refused = refused
