"""structlog configuration: JSON when stdout is not a TTY, console renderer when it is.

Caller numbers are masked in every log line unless debug is on, in values of number keys
(``caller``...) and inside AMI text excerpts (``excerpt``: number headers and digit runs);
secrets never reach a log because no code binds them and the masking processor replaces
keys that look like secrets. Warnings that can flood (one per bad frame, per failing sink,
per lost broker) are rate-limited: one line per key per interval, the next one carrying
``repeated=N``, the count of lines held back.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
import threading
from collections.abc import Callable, MutableMapping
from typing import Any, TextIO

import msgspec
import structlog

from centralita.ami_listener.ratelimit import DEFAULT_INTERVAL_S, RepeatLimiter

_NUMBER_KEYS = frozenset(
    {"caller", "caller_num", "callerid", "caller_number", "number", "phone", "calleridnum"}
)
_SECRET_KEYS = frozenset({"secret", "password", "token", "ami_secret", "db_password"})
_TEXT_KEYS = frozenset({"excerpt"})  # raw AMI text: numbers masked inside it
# AMI headers that carry a caller's (or a dialed) number, lower-cased (ami-dialects.md).
_NUMBER_HEADERS = frozenset(
    {
        "calleridnum",
        "connectedlinenum",
        "destcalleridnum",
        "destconnectedlinenum",
        "callerid",
        "callerid1",
        "callerid2",
        "exten",
        "extension",
        "destexten",
        "number",
    }
)
_DIGIT_RUN = re.compile(r"(?<![\d.])\d{4,}(?![\d.])")  # not a Timestamp or Uniqueid part
_HEADER_LINE = re.compile(r"^([^:\n]+): ([^\r\n]*)", re.MULTILINE)

RATE_LIMITED_EVENTS = frozenset(
    {
        "ami_frame_rejected",
        "ami_event_rejected",
        "ami_event_failed",
        "event_observer_failed",
        "effect_sink_failed",
        "customer_lookup_failed",
        "store_write_failed",
        "sqlite_checkpoint_failed",
        "event_log_writer_failed",
        "event_log_rows_dropped",
        "event_log_resend_window_full",
        "campaign_pop_without_call_pop",
        "campaign_item_failed",
        "agi_session_rejected",
        "agi_session_failed",
        "agi_session_crashed",
        "ivr_directory_unavailable",
        "ivr_flow_failed",
    }
)
"""Events logged on hot paths, at most one line per interval per (event, pbx_id, sink,
observer); other libraries' warnings (stdlib logging) are limited per logger and message."""
_LIMIT_FIELDS = ("pbx_id", "sink", "observer")
_state: dict[str, Any] = {
    "debug": False,
    "json": None,
    "quiet": False,
    "repeat_interval_s": DEFAULT_INTERVAL_S,
    "limiter": RepeatLimiter(),
}


def mask_number(value: str) -> str:
    """Mask a phone number for logs: keep the last 3 digits (`*****123`)."""
    if len(value) <= 3:
        return "*" * len(value)
    return "*" * (len(value) - 3) + value[-3:]


def mask_text(text: str) -> str:
    """Mask the numbers inside a piece of AMI text (a rejected frame's excerpt): the value
    of every number header (``CallerIDNum``, ``ConnectedLineNum``, ``Exten``...) and any
    other run of 4 or more digits (a number inside a channel name or a caller name), each
    as :func:`mask_number` does. Timestamps and Uniqueids (``1795922042.123``) are kept."""

    def header(match: re.Match[str]) -> str:
        key, value = match.group(1), match.group(2)
        if key.lower() in _NUMBER_HEADERS and any(c.isdigit() for c in value):
            return f"{key}: {mask_number(value)}"
        return match.group(0)

    masked = _HEADER_LINE.sub(header, text)
    return _DIGIT_RUN.sub(_mask_match, masked)


def _mask_match(match: re.Match[str]) -> str:
    return mask_number(match.group(0))


_PLAIN, _SECRET, _NUMBER, _TEXT = 0, 1, 2, 3
_key_kinds: dict[str, int] = {}  # key → kind, remembered (log keys are a small set)


def _key_kind(key: str) -> int:
    kind = _key_kinds.get(key)
    if kind is None:
        lowered = key.lower()
        kind = (
            _SECRET
            if lowered in _SECRET_KEYS
            else _NUMBER
            if lowered in _NUMBER_KEYS
            else _TEXT
            if lowered in _TEXT_KEYS
            else _PLAIN
        )
        if len(_key_kinds) < 10_000:
            _key_kinds[key] = kind
    return kind


def _mask_callers(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in [key for key in event_dict if _key_kind(key)]:
        kind = _key_kind(key)
        if kind == _SECRET:
            event_dict[key] = "***"
        elif not _state["debug"]:
            value = event_dict[key]
            if isinstance(value, str) and value:
                event_dict[key] = mask_number(value) if kind == _NUMBER else mask_text(value)
    return event_dict


def _limit_repeats(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Hold back repeats of the hot-path warnings (:data:`RATE_LIMITED_EVENTS`)."""
    event = event_dict.get("event")
    if event in RATE_LIMITED_EVENTS:
        key = (event, *(str(event_dict.get(field, "")) for field in _LIMIT_FIELDS))
        held = _state["limiter"].hit(key)
        if held is None:
            raise structlog.DropEvent
        if held:
            event_dict["repeated"] = held
    return event_dict


class _ForeignRepeatFilter(logging.Filter):
    """The same limit for other libraries' warnings (stdlib logging), per logger and
    message template; the count travels on the record (see :func:`_foreign_repeated`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        held = _state["limiter"].hit(("stdlib", record.name, str(record.msg)))
        if held is None:
            return False
        if held:
            record.repeated = held
        return True


def _foreign_repeated(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    record = event_dict.get("_record")
    held = getattr(record, "repeated", 0) if record is not None else 0
    if held:
        event_dict["repeated"] = held
    return event_dict


_json_encoder = msgspec.json.Encoder(enc_hook=repr)


def _json_dumps(obj: Any, **_ignored: Any) -> str:
    """JSON for log lines (msgspec: ~10x json.dumps); what it cannot encode goes as repr."""
    return _json_encoder.encode(obj).decode("utf-8")


def logging_setup() -> Callable[[], None]:
    """The current logging configuration, as a picklable call that repeats it (for the
    event-log writer process)."""
    return functools.partial(
        configure_logging,
        debug=_state["debug"],
        json=_state["json"],
        quiet=_state["quiet"],
        repeat_interval_s=_state["repeat_interval_s"],
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


class _StreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """stdlib logging's line writer with the same rules as `_LineWriter`: ``stream`` None
    means whatever ``sys.stderr`` is when a record is written (never a stream captured at
    configuration time that may have been closed since), and a write to a closed or broken
    stream drops the record instead of printing logging's own traceback."""

    def __init__(self, stream: TextIO | None) -> None:
        super().__init__(stream if stream is not None else sys.stderr)
        self._fixed = stream

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr if self._fixed is None else self._fixed
        super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (stdlib name)
        exc = sys.exc_info()[1]
        closed = bool(getattr(self.stream, "closed", False))
        if isinstance(exc, OSError) or (isinstance(exc, ValueError) and closed):
            return
        super().handleError(record)


def configure_logging(
    *,
    debug: bool = False,
    json: bool | None = None,
    quiet: bool = False,
    stream: TextIO | None = None,
    repeat_interval_s: float = DEFAULT_INTERVAL_S,
    clock: Callable[[], float] | None = None,
) -> None:
    """Configure structlog and route stdlib loggers through it. Safe to call twice.

    ``quiet`` keeps only warnings and errors (the demo's terminal shows its own summary).
    ``repeat_interval_s``: at most one line per key of a rate-limited warning per interval
    (``clock``, a monotonic clock in seconds, is for tests).
    """
    use_json = (not sys.stderr.isatty()) if json is None else json
    _state.update(debug=debug, json=use_json, quiet=quiet, repeat_interval_s=repeat_interval_s)
    _state["limiter"] = RepeatLimiter(repeat_interval_s, *(() if clock is None else (clock,)))
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
            _limit_repeats,  # first: a line held back costs nothing more
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
        foreign_pre_chain=[*shared, _foreign_repeated],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = _StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(_ForeignRepeatFilter())
    root = logging.getLogger()
    # Replace the handler an earlier configure_logging installed; leave anyone else's
    # (pytest's capture handlers, an embedding application's) in place.
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, _StreamHandler)]
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("aiosqlite", "sqlalchemy.engine", "asyncio", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
