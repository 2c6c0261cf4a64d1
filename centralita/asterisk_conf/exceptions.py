"""Errors of the asterisk_conf package.

AsteriskConfError             root: catch this to catch everything below
├── InvalidOptionError        a generator option is unusable (version, permit, ...);
│                             also a `ValueError`
└── OutputError               the generated files could not be written
"""

from __future__ import annotations


class AsteriskConfError(Exception):
    """Root of every error raised by `asterisk_conf`."""


class InvalidOptionError(AsteriskConfError, ValueError):
    """A generator option that cannot be used."""


class OutputError(AsteriskConfError):
    """Writing the generated files failed."""
