"""Asterisk include files generated from routing.toml (Elastix/FreePBX style).

`generate(table, options)` is pure and deterministic; `write_files` is the only I/O.
Imports `routing` only.
"""

from __future__ import annotations

from centralita.asterisk_conf.exceptions import AsteriskConfError, InvalidOptionError, OutputError
from centralita.asterisk_conf.generator import generate, write_files
from centralita.asterisk_conf.options import SUPPORTED_VERSIONS, GeneratorOptions

__all__ = [
    "SUPPORTED_VERSIONS",
    "AsteriskConfError",
    "GeneratorOptions",
    "InvalidOptionError",
    "OutputError",
    "generate",
    "write_files",
]
