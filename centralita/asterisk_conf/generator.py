"""`generate`: routing table + options → {file name: text} (pure); `write_files` at the edge."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from centralita.asterisk_conf.exceptions import OutputError
from centralita.asterisk_conf.extensions import FILENAME as EXTENSIONS
from centralita.asterisk_conf.extensions import render_extensions
from centralita.asterisk_conf.manager import FILENAME as MANAGER
from centralita.asterisk_conf.manager import render_manager
from centralita.asterisk_conf.options import GeneratorOptions, resolve_options
from centralita.asterisk_conf.queues import FILENAME as QUEUES
from centralita.asterisk_conf.queues import render_queues
from centralita.routing import RoutingTable


def generate(table: RoutingTable, options: GeneratorOptions | None = None) -> dict[str, str]:
    """Render every include file; deterministic for the same table and options.

    Raises:
        InvalidOptionError: an option is unusable.
    """
    target = resolve_options(table, options or GeneratorOptions())
    return {
        EXTENSIONS: render_extensions(table, target),
        QUEUES: render_queues(table, target),
        MANAGER: render_manager(table, target),
    }


def write_files(out_dir: Path, files: Mapping[str, str]) -> list[Path]:
    """Write each file atomically (temporary file + rename) into `out_dir`.

    Raises:
        OutputError: the directory or a file cannot be written.
    """
    written: list[Path] = []
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            path = out_dir / name
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=out_dir)
            try:
                with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                    handle.write(text)
                os.chmod(tmp, 0o644)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            written.append(path)
    except OSError as exc:
        msg = f"cannot write {out_dir}: {exc}"
        raise OutputError(msg) from exc
    return written
