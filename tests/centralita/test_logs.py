"""Log configuration: JSON lines from our loggers and from stdlib ones, masked callers,
no secrets, levels."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from centralita.logs import configure_logging as configure


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield io.StringIO()
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


def configure_logging(out: io.StringIO, **kwargs: bool) -> None:
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
