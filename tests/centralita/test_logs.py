"""Log configuration: JSON lines from our loggers and from stdlib ones, masked callers,
no secrets, levels."""

from __future__ import annotations

import io
import json
import logging
import pathlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from centralita.ami_listener.pipeline import Pipeline
from centralita.ami_listener.protocol import AmiParser, MalformedFrame
from centralita.ami_listener.tracker import CallTracker, default_service
from centralita.logs import RATE_LIMITED_EVENTS, mask_text
from centralita.logs import configure_logging as configure


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield io.StringIO()
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


def configure_logging(out: io.StringIO, **kwargs: Any) -> None:
    configure(stream=out, **kwargs)


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_json_lines_masked_and_without_secrets(stream: io.StringIO) -> None:
    configure_logging(stream, json=True)
    log = structlog.get_logger("ami_listener.pipeline")
    log.info("queue_call_finished", caller="71234567", secret="s3cr3t", wait_s=12.5, q=("a",))
    log.debug("not_shown")
    logging.getLogger("aiomqtt").warning("broker %s gone", "b1")
    first, second = lines(stream)
    assert first["event"] == "queue_call_finished" and first["level"] == "info"
    assert first["caller"] == "*****567" and first["secret"] == "***"
    assert first["wait_s"] == 12.5 and first["q"] == ["a"]
    assert str(first["timestamp"]).endswith("Z")
    assert second["event"] == "broker b1 gone" and second["level"] == "warning"
    assert "s3cr3t" not in stream.getvalue() and "71234567" not in stream.getvalue()


def test_debug_shows_numbers_and_debug_lines(stream: io.StringIO) -> None:
    configure_logging(stream, json=True, debug=True)
    structlog.get_logger().debug("pop", caller="71234567")
    (line,) = lines(stream)
    assert line["caller"] == "71234567" and line["level"] == "debug"


def test_quiet_keeps_warnings_only(stream: io.StringIO) -> None:
    configure_logging(stream, json=True, quiet=True)
    log = structlog.get_logger()
    log.info("hidden")
    log.warning("shown")
    assert [line["event"] for line in lines(stream)] == ["shown"]


def test_exception_carries_its_traceback(stream: io.StringIO) -> None:
    configure_logging(stream, json=True)
    try:
        raise ValueError("bad frame")
    except ValueError:
        structlog.get_logger().exception("ami_event_failed", ami_event="X")
    (line,) = lines(stream)
    assert line["level"] == "error" and "ValueError: bad frame" in str(line["exception"])


def test_unencodable_values_are_logged_as_repr(stream: io.StringIO) -> None:
    configure_logging(stream, json=True)

    class Thing:
        def __repr__(self) -> str:
            return "<thing>"

    structlog.get_logger().info("odd", value=Thing())
    assert lines(stream)[0]["value"] == "<thing>"


def test_a_closed_stream_never_breaks_the_caller(stream: io.StringIO) -> None:
    configure_logging(stream, json=True)
    stream.close()
    structlog.get_logger().info("after_close")  # dropped, no exception


def test_console_renderer_on_a_terminal(stream: io.StringIO) -> None:
    configure_logging(stream, json=False)
    structlog.get_logger().info("hello", caller="71234567")
    text = stream.getvalue()
    assert "hello" in text and "*****567" in text and "71234567" not in text


def rejected_frame() -> MalformedFrame:
    """What the parser makes of a frame that lost its first line (a real case: the rest
    of a frame after a cut), holding a caller's number, a dialed one and a timestamp."""
    data = (
        b"Timestamp: 1795922042.5\r\nCallerIDNum: 71234567\r\nExten: 4639999\r\n"
        b"ConnectedLineNum: 79876543\r\n\r\n"
    )
    (item,) = AmiParser().feed(data)
    assert isinstance(item, MalformedFrame)
    return item


def test_rejected_frame_excerpt_masks_caller_numbers(stream: io.StringIO) -> None:
    configure_logging(stream, json=True)
    Pipeline(CallTracker("pbx-1", default_service)).malformed(rejected_frame())
    (line,) = lines(stream)
    assert line["event"] == "ami_frame_rejected"
    excerpt = str(line["excerpt"])
    assert excerpt == "Timestamp: 1795922042.5\nCallerIDNum: *****567\nExten: ****999"
    assert "71234567" not in stream.getvalue() and "4639999" not in stream.getvalue()


def test_rejected_frame_excerpt_shown_whole_with_debug(stream: io.StringIO) -> None:
    configure_logging(stream, json=True, debug=True)
    Pipeline(CallTracker("pbx-1", default_service)).malformed(rejected_frame())
    (line,) = lines(stream)
    assert "CallerIDNum: 71234567" in str(line["excerpt"])


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("Exten: 4639999\nDestCallerIDNum: 7", "Exten: ****999\nDestCallerIDNum: *"),
        ("Channel: Local/71234567@lab-callers;1", "Channel: Local/*****567@lab-callers;1"),
        ("CallerIDName: <unknown>\nUniqueid: 1795922042.40", None),  # nothing to hide
        ("garbage 2504691 Cal", "garbage ****691 Cal"),  # a run of digits anywhere
        ("CallerIDNum: <unknown>\r\nPosition: 1", None),
    ],
)
def test_mask_text(text: str, masked: str | None) -> None:
    assert mask_text(text) == (text if masked is None else masked)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_repeated_warnings_one_line_per_interval_with_the_count(stream: io.StringIO) -> None:
    clock = FakeClock()
    configure_logging(stream, json=True, repeat_interval_s=60.0, clock=clock)
    log = structlog.get_logger("ami_listener.pipeline")
    for _ in range(500):
        log.warning("ami_event_rejected", pbx_id="a", reason="bad HoldTime")
    log.warning("ami_event_rejected", pbx_id="b", reason="bad HoldTime")  # its own key
    for _ in range(3):
        log.info("queue_call_finished", pbx_id="a")  # not rate-limited
    clock.now += 59.9
    log.warning("ami_event_rejected", pbx_id="a", reason="still")
    clock.now += 0.1
    log.warning("ami_event_rejected", pbx_id="a", reason="later")
    log.warning("ami_event_rejected", pbx_id="a", reason="again")
    got = [(line["event"], line.get("pbx_id"), line.get("repeated")) for line in lines(stream)]
    assert got == [
        ("ami_event_rejected", "a", None),
        ("ami_event_rejected", "b", None),
        *[("queue_call_finished", "a", None)] * 3,
        ("ami_event_rejected", "a", 500),  # 499 in the flood + the one at 59.9 s
    ]
    assert lines(stream)[-1]["reason"] == "later"


def test_a_failing_sink_flood_is_one_line_with_its_traceback(stream: io.StringIO) -> None:
    clock = FakeClock()
    configure_logging(stream, json=True, clock=clock)
    log = structlog.get_logger()
    for _ in range(100):
        try:
            raise RuntimeError("broker down")
        except RuntimeError:
            log.exception("effect_sink_failed", sink="MqttPublisher")
    clock.now += 60
    try:
        raise RuntimeError("broker down")
    except RuntimeError:
        log.exception("effect_sink_failed", sink="MqttPublisher")
    first, second = lines(stream)
    assert "RuntimeError: broker down" in str(first["exception"]) and "repeated" not in first
    assert second["repeated"] == 99 and "RuntimeError" in str(second["exception"])


def test_other_libraries_warnings_rate_limited_too(stream: io.StringIO) -> None:
    clock = FakeClock()
    configure_logging(stream, json=True, clock=clock)
    broker = logging.getLogger("aiomqtt")
    for n in range(10):
        broker.warning("broker %s gone", f"b{n}")  # one template: one key
    broker.info("connected")  # below warning: never limited
    broker.info("connected")
    clock.now += 61
    broker.warning("broker %s gone", "b10")
    got = [(line["event"], line.get("repeated")) for line in lines(stream)]
    assert got == [
        ("broker b0 gone", None),
        ("connected", None),
        ("connected", None),
        ("broker b10 gone", 9),
    ]


def test_rate_limited_events_are_the_names_the_code_logs() -> None:
    """A renamed event would silently stop being limited."""
    root = pathlib.Path(__file__).resolve().parents[2]
    source = "".join(path.read_text() for path in (root / "centralita").rglob("*.py"))
    logged = set(re.findall(r'log\.(?:warning|error|exception)\(\s*"([a-z_]+)"', source))
    assert not RATE_LIMITED_EVENTS - logged


def test_stdlib_lines_follow_the_current_stderr_and_a_closed_one_is_not_an_error(
    stream: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CLI run configures logging with sys.stderr being one stream (pytest's capture, a
    pipe); later that stream is closed and another is sys.stderr. A library's late line
    (asyncio reporting a collected future) goes to the current stderr, never a "--- Logging
    error ---" traceback; someone else's handler on the root logger is kept."""
    foreign = logging.NullHandler()
    logging.getLogger().addHandler(foreign)
    first = io.StringIO()
    monkeypatch.setattr("sys.stderr", first)
    configure(json=True)
    configure(json=True)  # reconfiguring replaces our handler, not adds a second one
    first.close()
    second = io.StringIO()
    monkeypatch.setattr("sys.stderr", second)
    logging.getLogger("asyncio").error("Future exception was never retrieved")
    assert foreign in logging.getLogger().handlers
    (line,) = lines(second)
    assert line["event"] == "Future exception was never retrieved"
    third = io.StringIO()
    monkeypatch.setattr("sys.stderr", third)
    second.close()
    fixed = io.StringIO()
    configure(stream=fixed, json=True)
    fixed.close()
    logging.getLogger("asyncio").error("into a closed stream")
    assert third.getvalue() == ""
