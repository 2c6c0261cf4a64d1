"""A console wired like the daemon does it: embedded publisher, live state, users."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from ami_listener.pipeline import Pipeline
from ami_listener.publisher import ScreenPopPublisher, service_resolver
from ami_listener.tracker import CallTracker
from console.app import create_app
from console.live import LiveState
from console.users import User, UserDirectory, hash_password
from routing import default_routing_path, load_routing
from tests.console.ami_calls import Call, messages

PASSWORD = "clave-segura-1"
_HASH = hash_password(PASSWORD)
USERS = UserDirectory(
    [
        User(name="ana", role="agent", interface="Local/agent1@lab-agents", password=_HASH),
        User(name="beto", role="agent", interface="Local/agent2@lab-agents", password=_HASH),
        User(name="sofia", role="supervisor", password=_HASH),
    ]
)


@dataclass
class Console:
    app: Starlette
    publisher: ScreenPopPublisher
    live: LiveState
    pipeline: Pipeline

    def play(self, data: bytes) -> None:
        for msg in messages(data):
            self.pipeline.feed(msg, None)

    async def answer(self, call: Call) -> None:
        """Play a call up to the answer and let the publisher deliver the pop."""
        self.play(call.ivr_frame() + call.join() + call.connect())
        for _ in range(100):
            if self.publisher.bus.pop_for_call(call.uniqueid) is not None:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("pop not delivered")


@contextlib.asynccontextmanager
async def console(
    engine: AsyncEngine, *, pbx: str = "lab", host: str | None = None, port: int = 1883
) -> AsyncIterator[Console]:
    routing = load_routing(default_routing_path())
    publisher = ScreenPopPublisher(pbx, host, port, services=service_resolver(routing))
    live = LiveState(
        pbx,
        measured=[s.key for s in routing.measured_services()],
        service_names={s.key: s.name for s in routing.services},
    )
    pipeline = Pipeline(CallTracker(pbx), sinks=[publisher, live], log_events=False)
    app = create_app(pbx, engine, publisher, live, USERS)
    task = asyncio.create_task(publisher.run())
    try:
        yield Console(app, publisher, live, pipeline)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
