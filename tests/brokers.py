"""A Mosquitto of our own for tests that stop and restart the broker (a real outage)."""

from __future__ import annotations

import getpass
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


class PrivateBroker:
    """A private Mosquitto on a free port, with persistence so that a subscriber's session
    (and the QoS 1 messages queued for it) survives a restart; ``stop()`` is an outage."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.host = "127.0.0.1"
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            # Started as root, mosquitto drops to the "mosquitto" user, which cannot write
            # the session database into this private directory: stay as the caller.
            f"user {getpass.getuser()}\n"
            "persistence true\n"
            f"persistence_location {workdir}/\n"
            "log_dest none\n"
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


def running_private_broker(workdir: Path) -> Iterator[PrivateBroker]:
    """Start one (skip when mosquitto is missing, fail under CENTRALITA_REQUIRE_SERVICES=1)."""
    if not shutil.which(MOSQUITTO):
        if os.environ.get("CENTRALITA_REQUIRE_SERVICES") == "1":
            pytest.fail("mosquitto is not installed and CENTRALITA_REQUIRE_SERVICES=1")
        pytest.skip("mosquitto is not installed")
    broker = PrivateBroker(workdir)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
