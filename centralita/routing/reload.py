"""`RoutingHolder`: the daemon's current routing table, with validated hot reload.

Reload = read + parse + validate + swap. A bad file never replaces a good table: the old
one stays and `routing_reload_rejected` is logged with every error. The daemon calls
`reload()` on SIGHUP and runs `watch()` to follow edits of the file.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import structlog

from centralita.routing.exceptions import RoutingConfigError
from centralita.routing.loader import load_routing
from centralita.routing.table import RoutingTable

log = structlog.get_logger(__name__)

_Stamp = tuple[int, int, int] | None


def _stamp(path: Path) -> _Stamp:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class RoutingHolder:
    """Holds the current `RoutingTable` of one routing file."""

    def __init__(self, path: str | Path, table: RoutingTable | None = None) -> None:
        """Load `path` now unless `table` is given.

        Raises:
            RoutingConfigError: the initial file is invalid (the daemon must not start).
        """
        self.path = Path(path)
        self._stamp = _stamp(self.path)
        self._table = table if table is not None else load_routing(self.path)
        self.generation = 0

    @property
    def table(self) -> RoutingTable:
        """The routing in force."""
        return self._table

    def reload(self) -> bool:
        """Re-read the file; swap the table if valid. Returns whether it was swapped."""
        self._stamp = _stamp(self.path)
        try:
            table = load_routing(self.path)
        except RoutingConfigError as exc:
            log.error("routing_reload_rejected", path=str(self.path), errors=exc.errors)
            return False
        self._table = table
        self.generation += 1
        log.info(
            "routing_reloaded",
            path=str(self.path),
            services=len(table.services),
            generation=self.generation,
        )
        return True

    def changed(self) -> bool:
        """True when the file's mtime, size or inode differ from the last (re)load."""
        return _stamp(self.path) != self._stamp

    async def watch(self, interval_s: float = 2.0) -> None:
        """Poll the file every `interval_s` and reload when it changed (runs forever)."""
        while True:
            await asyncio.sleep(interval_s)
            if self.changed():
                self.reload()
