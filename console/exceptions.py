"""Errors of the console package.

ConsoleError
├── UsersFileError        the users file cannot be read, or has an invalid entry
├── AuthenticationError   unknown user or wrong password
└── InteractionError      an interaction does not fit its call or script
"""

from __future__ import annotations


class ConsoleError(Exception):
    """Root of every console error."""


class UsersFileError(ConsoleError):
    """The users file cannot be read or has an invalid entry (the message names it)."""


class AuthenticationError(ConsoleError):
    """Unknown user or wrong password (deliberately not saying which)."""


class InteractionError(ConsoleError):
    """An interaction does not fit its call or script (bad trail, unknown call...)."""
