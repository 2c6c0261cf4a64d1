"""structlog configuration: JSON when stdout is not a TTY, console renderer when it is.

Caller numbers are masked in every log line unless debug is on; secrets never reach a log
because no code binds them and the `redact` processor drops keys that look like secrets.
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
from collections.abc import Callable, MutableMapping
from typing import Any, TextIO

import msgspec
import structlog

_NUMBER_KEYS = frozenset(
    {"caller", "caller_num", "callerid", "caller_number", "number", "phone", "calleridnum"}
)
_SECRET_KEYS = frozenset({"secret", "password", "token", "ami_secret", "db_password"})
_state: dict[str, Any] = {"debug": False, "json": None, "quiet": False}


def mask_number(value: str) -> str:
    """Mask a phone number for logs: keep the last 3 digits (`*****123`)."""
    if len(value) <= 3:
        return "*" * len(value)
    return "*" * (len(value) - 3) + value[-3:]


_PLAIN, _SECRET, _NUMBER = 0, 1, 2
_key_kinds: dict[str, int] = {}  # key → kind, remembered (log keys are a small set)


def _key_kind(key: str) -> int:
    kind = _key_kinds.get(key)
    if kind is None:
        lowered = key.lower()
        kind = _SECRET if lowered in _SECRET_KEYS else _NUMBER if lowered in _NUMBER_KEYS else 0
        if len(_key_kinds) < 10_000:
            _key_kinds[key] = kind
    return kind


def _mask_callers(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in [key for key in event_dict if _key_kind(key)]:
        if _key_kind(key) == _SECRET:
            event_dict[key] = "***"
        elif not _state["debug"]:
            value = event_dict[key]
            if isinstance(value, str) and value:
                event_dict[key] = mask_number(value)
    return event_dict


_json_encoder = msgspec.json.Encoder(enc_hook=repr)


def _json_dumps(obj: Any, **_ignored: Any) -> str:
    """JSON for log lines (msgspec: ~10x json.dumps); what it cannot encode goes as repr."""
    return _json_encoder.encode(obj).decode("utf-8")


def logging_setup() -> Callable[[], None]:
    """The current logging configuration, as a picklable call that repeats it (for the
    event-log writer process)."""
    return functools.partial(
        configure_logging, debug=_state["debug"], json=_state["json"], quiet=_state["quiet"]
    )


class _LineWriter:
    """structlog's output for our loggers: one rendered line per call, written and flushed
    to ``stream`` (None: whatever ``sys.stderr`` is at that moment). A write that fails (a
    closed or broken stream) drops the line: logging never breaks the code that logs."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def msg(self, message: str) -> None:
        stream = sys.stderr if self._stream is None else self._stream
        try:
            with self._lock:
                stream.write(message + "\n")
                stream.flush()
        except (OSError, ValueError):
            pass

    debug = info = warning = warn = error = err = critical = fatal = exception = log = msg


def configure_logging(
    *,
    debug: bool = False,
    json: bool | None = None,
    quiet: bool = False,
    stream: TextIO | None = None,
) -> None:
    """Configure structlog and route stdlib loggers through it. Safe to call twice.

    ``quiet`` keeps only warnings and errors (the demo's terminal shows its own summary).
    """
    use_json = (not sys.stderr.isatty()) if json is None else json
    _state.update(debug=debug, json=use_json, quiet=quiet)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _mask_callers,
    ]
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    writer = _LineWriter(stream)
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_json_dumps)
        if use_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    # Our own loggers: structlog's native logger, rendered and written straight to the
    # stream. Through stdlib logging a line cost ~80 µs (two LogRecords, caller lookup,
    # json.dumps), and the listener writes one per finished call on its hot path.
    structlog.configure(
        processors=[
            *shared,
            *([structlog.processors.format_exc_info] if use_json else []),
            renderer,
        ],
        logger_factory=lambda *_args: writer,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=False,  # reconfiguring (tests, demo) reaches every logger
    )
    # Other libraries log through stdlib logging: same processors, same renderer.
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiosqlite", "sqlalchemy.engine", "asyncio", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
