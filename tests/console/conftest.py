"""Fixtures of the console tests: a private Mosquitto we can stop and restart, an MQTT
collector that survives broker restarts, and pipeline helpers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from tests.brokers import PrivateBroker, running_private_broker

CHROMIUM = "/usr/bin/chromium"


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
    yield from running_private_broker(tmp_path)


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
        await self.wait_until(
            lambda: len(self.on(suffix)) >= count,
            within,
            lambda: f"only {len(self.on(suffix))} of {count} messages on *{suffix}",
        )
        return self.on(suffix)

    async def wait_until(
        self, done: Callable[[], bool], within: float, what: Callable[[], str]
    ) -> None:
        """Wait until ``done()`` holds for what arrived; fail with ``what()`` after ``within``."""
        deadline = time.monotonic() + within
        while not done():
            left = deadline - time.monotonic()
            assert left > 0, what()
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), min(left, 0.2))


@contextlib.asynccontextmanager
async def collect(
    host: str, port: int, *topics: str, identifier: str | None = None
) -> AsyncIterator[Collector]:
    """Subscribe (QoS 1, persistent session) and keep reconnecting until the block ends.

    Two blocks with the same ``identifier`` are one MQTT session: the second receives what
    the broker kept for the first meanwhile."""
    out = Collector()
    ident = identifier or f"t-{uuid.uuid4().hex[:10]}"

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
            except Exception:  # MqttError, or a socket error while the
                # broker restarts: a collector that stopped here would miss what follows.
                await asyncio.sleep(0.05)

    task = asyncio.create_task(loop())
    try:
        await asyncio.wait_for(out.subscribed.wait(), 10)
        yield out
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


async def launch_chromium(pw: Any, executable: str) -> Any:
    """Debian's Chromium, headless, with the flags this machine needs."""
    return await pw.chromium.launch(executable_path=executable, args=BROWSER_ARGS)


async def sign_in(
    browser: Any, base: str, user: str, password: str, landing: str, width: int, height: int
) -> Any:
    """A new page signed in to the console as `user`, on its landing page."""
    page = await browser.new_page(viewport={"width": width, "height": height})
    await page.goto(f"{base}/ingresar")
    await page.fill("input[name=usuario]", user)
    await page.fill("input[name=clave]", password)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}{landing}")
    return page


async def walk_101_to_outcome(page: Any, note: str) -> None:
    """Script 101 in the console: steps 1-4 continue, step 5 branches; take "no existe
    registro" (step 7), answer it, and write ``note`` in the outcome form."""
    for _ in range(4):
        await page.click("#options button >> nth=0")
    await page.wait_for_selector("#options button >> nth=1")
    await page.click("#options button >> nth=1")
    await page.wait_for_selector("text=Genera un daño")
    await page.click("#options button >> nth=0")
    await page.wait_for_selector("#outcome:not([hidden])")
    await page.fill("#note", note)
