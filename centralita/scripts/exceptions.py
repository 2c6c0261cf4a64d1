"""Errors of the scripts package.

```
ScriptError
 ├── ScriptNotFoundError     no script with that id
 ├── ScriptDecodeError       a data file is not valid TOML or does not fit the model
 ├── ScriptInvalidError      the model fits but the graph is broken (validator problems)
 └── WalkError               an impossible move while walking a script
```

Every message that concerns a data file starts with the file's name, then the path
inside it, then the reason in Spanish:
`scripts/data/101.toml: $.steps[3].branches[1].goto: paso desconocido 14`.
"""

from __future__ import annotations

from collections.abc import Sequence


class ScriptError(Exception):
    """Root of every error raised by the scripts package."""


class ScriptNotFoundError(ScriptError, LookupError):
    """No script has the requested id."""

    def __init__(self, script_id: str) -> None:
        super().__init__(f"no hay ningún guion con el identificador «{script_id}»")
        self.script_id = script_id


class ScriptDecodeError(ScriptError):
    """A data file is not valid TOML, or its content does not fit the model."""

    def __init__(self, file: str, path: str, message: str) -> None:
        super().__init__(f"{file}: {path}: {message}" if path else f"{file}: {message}")
        self.file = file
        self.path = path
        self.message = message


class ScriptInvalidError(ScriptError):
    """A decoded script fails validation; `problems` holds one line per problem."""

    def __init__(self, file: str, problems: Sequence[str]) -> None:
        self.file = file
        self.problems = tuple(f"{file}: {problem}" for problem in problems)
        super().__init__("\n".join(self.problems))


class WalkError(ScriptError):
    """An impossible move while walking a script (unknown option, walk finished)."""
