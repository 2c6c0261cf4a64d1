"""Fixtures of the console tests: a private Mosquitto we can stop and restart, an MQTT
collector that survives broker restarts, and pipeline helpers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt
import pytest

from tests.conftest import port_open

MOSQUITTO = "/usr/sbin/mosquitto"
CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateBroker:
    """A Mosquitto of our own on a free port, with persistence so that a subscriber's
    session (and the QoS 1 messages queued for it) survives a restart."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.host = "127.0.0.1"
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
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


@pytest.fixture
def chromium() -> str:
    """Debian's Chromium for playwright (skips when missing, unless services are required)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CENTRALITA_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{CHROMIUM} is missing and CENTRALITA_REQUIRE_SERVICES=1")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    """A Mosquitto this test may stop and start (skips when mosquitto is not installed)."""
    if not shutil.which(MOSQUITTO):
        if os.environ.get("CENTRALITA_REQUIRE_SERVICES") == "1":
            pytest.fail("mosquitto is not installed and CENTRALITA_REQUIRE_SERVICES=1")
        pytest.skip("mosquitto is not installed")
    broker = PrivateBroker(tmp_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@dataclass
class Received:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    at: float


@dataclass
class Collector:
    """Messages an MQTT subscriber received, with helpers to wait for them."""

    messages: list[Received] = field(default_factory=list)
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def on(self, suffix: str) -> list[Received]:
        return [m for m in self.messages if m.topic.endswith(suffix)]

    async def wait_for(self, suffix: str, count: int = 1, within: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + within
        while len(self.on(suffix)) < count:
            left = deadline - time.monotonic()
            assert left > 0, f"only {len(self.on(suffix))} of {count} messages on *{suffix}"
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), min(left, 0.2))
        return self.on(suffix)


@contextlib.asynccontextmanager
async def collect(host: str, port: int, *topics: str) -> AsyncIterator[Collector]:
    """Subscribe (QoS 1, persistent session) and keep reconnecting until the block ends."""
    out = Collector()
    ident = f"t-{uuid.uuid4().hex[:10]}"

    async def loop() -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    host, port, identifier=ident, clean_session=False, keepalive=5
                ) as client:
                    for topic in topics:
                        await client.subscribe(topic, qos=1)
                    out.subscribed.set()
                    async for msg in client.messages:
                        payload = msg.payload
                        assert isinstance(payload, bytes)
                        out.messages.append(
                            Received(str(msg.topic), payload, msg.qos, msg.retain, time.time())
                        )
                        out.arrived.set()
            except aiomqtt.MqttError:
                await asyncio.sleep(0.05)

    task = asyncio.create_task(loop())
    try:
        await asyncio.wait_for(out.subscribed.wait(), 10)
        yield out
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
