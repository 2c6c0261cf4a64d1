"""Fixtures of the integration tests: a Mosquitto of our own that a test may stop."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import port_open

MOSQUITTO = "/usr/sbin/mosquitto"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class StoppableBroker:
    """A private Mosquitto process on a free port: ``stop()`` is a real broker outage."""

    def __init__(self, workdir: Path) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\nlog_dest none\n", "utf-8"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.proc is None
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)])
        deadline = time.monotonic() + 10
        while not port_open(self.host, self.port):
            assert time.monotonic() < deadline, "private mosquitto did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        self.proc.wait(10)
        self.proc = None


@pytest.fixture
def stoppable_broker(tmp_path: Path) -> Iterator[StoppableBroker]:
    """A Mosquitto this test may stop and start (skips when mosquitto is not installed,
    fails instead under ``CENTRALITA_REQUIRE_SERVICES=1``)."""
    if not shutil.which(MOSQUITTO):
        if os.environ.get("CENTRALITA_REQUIRE_SERVICES") == "1":
            pytest.fail("mosquitto is not installed and CENTRALITA_REQUIRE_SERVICES=1")
        pytest.skip("mosquitto is not installed")
    broker = StoppableBroker(tmp_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
