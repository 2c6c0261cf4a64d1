"""Rate limiting of repeated occurrences (pure, no I/O): one per key per interval, with a
count of what was held back.

A flood of the same warning (a PBX sending garbage, a sink that fails on every call, a
broker that is down) must not write one log line per occurrence: the first occurrence of a
key passes, the next ones within ``interval_s`` are counted and held back, and the first
one after the interval passes again carrying that count (``repeated=N``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable

DEFAULT_INTERVAL_S = 60.0
MAX_KEYS = 1024


class RepeatLimiter:
    """Decides, per key, whether an occurrence is reported now.

    ``clock`` is a monotonic clock in seconds (injected by tests). Safe to share between
    threads. At most ``max_keys`` keys are remembered; beyond that the keys whose interval
    has run out are forgotten first, then the oldest.
    """

    def __init__(
        self,
        interval_s: float = DEFAULT_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._max_keys = max_keys
        self._windows: dict[Hashable, list[float]] = {}  # key -> [window start, held back]
        self._lock = threading.Lock()

    def hit(self, key: Hashable) -> int | None:
        """One occurrence of ``key``: None when it is to be held back, else the number of
        occurrences held back since the last one reported (0 for the first)."""
        now = self._clock()
        with self._lock:
            window = self._windows.get(key)
            if window is not None and now - window[0] < self.interval_s:
                window[1] += 1
                return None
            held = 0 if window is None else int(window[1])
            if window is None and len(self._windows) >= self._max_keys:
                self._forget(now)
            self._windows[key] = [now, 0]
            return held

    def pending(self) -> dict[Hashable, int]:
        """Occurrences held back and not yet reported, per key (e.g. to log at stop)."""
        with self._lock:
            return {key: int(w[1]) for key, w in self._windows.items() if w[1]}

    def _forget(self, now: float) -> None:
        expired = [k for k, w in self._windows.items() if now - w[0] >= self.interval_s]
        for key in expired:
            del self._windows[key]
        while len(self._windows) >= self._max_keys:
            del self._windows[next(iter(self._windows))]
