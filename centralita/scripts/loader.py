"""Read script files: TOML (stdlib `tomllib`) → `msgspec.convert` → validator.

The packaged scripts live in `centralita/scripts/data/` (package data, read through
`importlib.resources`); `load_dir` reads any directory, for `centralita scripts check DIR`.
"""

from __future__ import annotations

import functools
import tomllib
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import msgspec

from centralita.routing import decode_errors
from centralita.scripts import validate
from centralita.scripts.exceptions import (
    ScriptDecodeError,
    ScriptError,
    ScriptInvalidError,
    ScriptNotFoundError,
)
from centralita.scripts.model import SERVICE_IDS, Script

DATA_PACKAGE = "centralita.scripts.data"
PACKAGED_DIR_NAME = "scripts/data"


def data_files() -> Traversable:
    """The packaged data directory."""
    return resources.files(DATA_PACKAGE)


def parse(text: str, file: str) -> Script:
    """Decode and validate one script from TOML text; `file` names it in errors.

    Raises:
        ScriptDecodeError: not TOML, or not the shape of a script.
        ScriptInvalidError: a branch does not land, a step is unreachable, ...
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScriptDecodeError(file, "", decode_errors.toml_reason(exc)) from exc
    try:
        script = msgspec.convert(raw, Script)
    except msgspec.ValidationError as exc:
        path, reason = decode_errors.split(str(exc))
        raise ScriptDecodeError(file, path or "$", reason) from exc
    found = validate.problems(script)
    if found:
        raise ScriptInvalidError(file, found)
    return script


def load_file(source: Path | Traversable, file: str | None = None) -> Script:
    """Load one script file; its stem must be the script's id."""
    name = file if file is not None else str(source)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScriptDecodeError(name, "", decode_errors.read_reason(exc)) from exc
    script = parse(text, name)
    stem = source.name.removesuffix(".toml")
    if script.id != stem:
        raise ScriptInvalidError(
            name, [f"$.id: «{script.id}» no coincide con el nombre del archivo"]
        )
    return script


@functools.cache
def load_script(script_id: str) -> Script:
    """The packaged script of a service ("101", ..., "prepago").

    Raises:
        ScriptNotFoundError: `script_id` is not a service key.
        ScriptDecodeError, ScriptInvalidError: the packaged file is broken.
    """
    if script_id not in SERVICE_IDS:
        raise ScriptNotFoundError(script_id)
    return load_file(data_files() / f"{script_id}.toml", f"{PACKAGED_DIR_NAME}/{script_id}.toml")


def load_all() -> dict[str, Script]:
    """Every packaged script by id, in the order of the procedure (A to K)."""
    return {script_id: load_script(script_id) for script_id in SERVICE_IDS}


def check_dir(directory: Path | Traversable, display: str | None = None) -> list[str]:
    """Load every `*.toml` of a directory; one message per problem, [] when all is well.

    Also reports service keys without a file, files that are not service keys, and
    two scripts claiming the same section of the procedure.
    """
    shown = display if display is not None else str(directory)
    messages: list[str] = []
    if not directory.is_dir():
        return [f"{shown}: no existe o no es un directorio"]
    files = sorted(
        (entry for entry in directory.iterdir() if entry.name.endswith(".toml")),
        key=lambda entry: entry.name,
    )
    sections: dict[str, str] = {}
    present: set[str] = set()
    for entry in files:
        name = f"{shown}/{entry.name}"
        stem = entry.name.removesuffix(".toml")
        present.add(stem)
        if stem not in SERVICE_IDS:
            messages.append(f"{name}: «{stem}» no es la clave de ningún servicio")
            continue
        try:
            script = load_file(entry, name)
        except ScriptInvalidError as exc:
            messages.extend(exc.problems)
            continue
        except ScriptError as exc:
            messages.append(str(exc))
            continue
        if script.section in sections:
            messages.append(
                f"{name}: $.section: la sección {script.section} ya es la del guion "
                f"«{sections[script.section]}»"
            )
        sections[script.section] = script.id
    messages.extend(
        f"{shown}: falta el guion del servicio «{script_id}»"
        for script_id in SERVICE_IDS
        if script_id not in present
    )
    return messages


def load_dir(directory: Path) -> dict[str, Script]:
    """Every script of a directory by id (errors as in `load_file`)."""
    return {
        entry.stem: load_file(entry)
        for entry in sorted(directory.glob("*.toml"))
        if entry.stem in SERVICE_IDS
    }
