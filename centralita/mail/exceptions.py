"""Errors of the mail package.

```
MailError
 ├── MailConfigError      the [mail] settings cannot be used (Spanish, one line)
 └── DeliveryError        one send failed; ``permanent`` says whether a retry may help
```
"""

from __future__ import annotations


class MailError(Exception):
    """Root of every error raised by the mail package."""


class MailConfigError(MailError):
    """The [mail] settings cannot be used as they are."""


class DeliveryError(MailError):
    """A message was not accepted by the SMTP server."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
