"""Errors of the IVR package, one root.

```
IvrError
├── AgiError                    FastAGI transport failures
│   ├── AgiProtocolError        a line that is not AGI (bad header, bad reply, line too long)
│   ├── AgiTimeoutError         the peer did not send or read in time
│   ├── AgiClosedError          the peer closed the socket
│   └── AgiHangup               the caller hung up (unsolicited HANGUP, result=-1, 511)
├── DirectoryError              customer directory failures
│   ├── DirectoryUnavailableError  the directory (database, CRM) is down, slow or answers garbage
│   └── GuideNotConfiguredError    a guide (the commercial one) has no source configured
├── CustomerImportError         `customers import` rejected a file; nothing was imported
│   ├── CsvHeaderError          the header row has missing or unknown columns
│   └── CsvRowsError            some rows are invalid; `.errors` lists line and reason
├── FlowConfigError             the IVR flow/prompt data file is invalid
└── SoundToolError              espeak-ng or sox failed while making the prompts
    └── SoundToolMissingError   a tool is not installed; `.package` is the Debian package
```
"""

from __future__ import annotations

from centralita.ivr.csvtext import RowError  # one rejected line, shared by every import


class IvrError(Exception):
    """Root of every error raised by the ivr package."""


class AgiError(IvrError):
    """A FastAGI session failed at the transport level."""


class AgiProtocolError(AgiError):
    """The peer sent something that is not valid AGI."""


class AgiTimeoutError(AgiError):
    """The peer did not send (or accept) data within the allowed time."""


class AgiClosedError(AgiError):
    """The peer closed the connection."""


class AgiHangup(AgiError):  # noqa: N818 -- the name the issue and the AGI docs use
    """The caller hung up: the channel is dead, no command can reach it any more."""


class DirectoryError(IvrError):
    """A customer directory operation failed."""


class DirectoryUnavailableError(DirectoryError):
    """The customer directory cannot answer right now (down, slow or broken reply)."""


class GuideNotConfiguredError(DirectoryError):
    """The guide asked for has no source here (the commercial guide without a CRM)."""


class CustomerImportError(IvrError):
    """A customers CSV file was rejected as a whole; nothing was imported."""


class CsvHeaderError(CustomerImportError):
    """The CSV header row does not have the expected columns."""


class CsvRowsError(CustomerImportError):
    """Some CSV rows are invalid; `errors` names each line and its reason."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        shown = "; ".join(str(error) for error in errors[:20])
        more = f" (y {len(errors) - 20} más)" if len(errors) > 20 else ""
        super().__init__(f"{len(errors)} línea(s) con error, no se importó nada: {shown}{more}")


class FlowConfigError(IvrError):
    """The IVR flow data (services, prompts) is invalid."""


class SoundToolError(IvrError):
    """Making a prompt's sound files failed (espeak-ng or sox exited with an error)."""


class SoundToolMissingError(SoundToolError):
    """A tool the prompts need is not installed; `package` is the Debian package to install."""

    def __init__(self, message: str, package: str) -> None:
        super().__init__(message)
        self.package = package
