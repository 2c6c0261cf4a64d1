"""Errors of the AMI listener.

AmiListenerError
├── AmiConnectionError      the PBX cannot be reached, login refused, peer went silent
│   └── AmiLoginError       Asterisk refused the credentials or the permissions
├── EventDecodeError        a known event whose fields do not validate
└── StoreError              the database refused a write (buffered and retried)
"""

from __future__ import annotations


class AmiListenerError(Exception):
    """Root of every error raised by ami_listener."""


class AmiConnectionError(AmiListenerError):
    """The AMI connection failed or the peer stopped answering."""


class AmiLoginError(AmiConnectionError):
    """Asterisk refused the login."""


class EventDecodeError(AmiListenerError):
    """A known event could not be decoded into its typed struct."""


class StoreError(AmiListenerError):
    """A database write failed."""
