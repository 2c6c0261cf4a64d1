"""Errors of the campaigns package, one root.

```
CampaignError
├── CampaignNotFoundError        no campaign for that month (import its list first)
├── CampaignConfigError          the campaign settings file or an option is invalid
├── FileImportError              a CSV file was rejected as a whole; nothing was imported
│   ├── CsvHeaderError           the header row has missing, unknown or repeated columns
│   └── CsvRowsError             some lines are invalid; `.errors` lists line and reason
├── DispositionError             an agent's result cannot be recorded for that attempt
└── OriginateError               the Originate action could not be sent (adapters raise it)
```
Messages are in Spanish: supervisors read them.
"""

from __future__ import annotations

from centralita.ivr.csvtext import RowError  # one rejected line, shared by every import


class CampaignError(Exception):
    """Root of every error raised by the campaigns package."""


class CampaignNotFoundError(CampaignError):
    """There is no campaign for the requested month."""


class CampaignConfigError(CampaignError):
    """The campaign settings (file or command-line option) are invalid."""


class FileImportError(CampaignError):
    """A CSV file was rejected as a whole; nothing was imported."""


class CsvHeaderError(FileImportError):
    """The CSV header row does not have the expected columns."""


class CsvRowsError(FileImportError):
    """Some CSV lines are invalid; `errors` names each line and its reason."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        super().__init__(
            f"{len(errors)} línea(s) con error, no se importó nada:\n"
            + "\n".join(str(error) for error in errors)
        )


class DispositionError(CampaignError):
    """The agent's result does not fit the attempt (unknown attempt, not answered, bad code)."""


class DispositionConflictError(DispositionError):
    """The attempt already has a different result (one result per attempt)."""


class OriginateError(CampaignError):
    """The Originate action could not be sent to the PBX (connection down, refused)."""
