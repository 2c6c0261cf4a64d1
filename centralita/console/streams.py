"""The console's event streams share one listener on the in-process bus.

Each stream (``/api/pops/stream``) used to hold its own bus listener and wake for every
message of every agent (each call's join, answer and end, the other agents' pops) only to
drop nearly all of them: with 220 open streams that was about 14 ms of the daemon's loop
per bus message, four messages per call, and a pop reached the last streams tens of
milliseconds late (bench/RESULTS.md, "screenpop in the browser"). Here one task reads the
bus, makes each message's frame once per watched agent and hands it only to the streams
watching that agent: a stream wakes only for what it sends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import structlog

from centralita.screenpop.bus import Delivery, LocalBus

log = structlog.get_logger(__name__)

Frame = Callable[[Delivery, str], bytes | None]
"""``(message, watched agent) -> frame``; ``None``: not for streams watching that agent
(``""``: every agent)."""


class StreamFanout:
    """Frames of bus messages for the open event streams, by watched agent.

    Each stream has a bounded queue; a slow stream loses its oldest frames, never slows
    the others (as the bus does for its listeners). The bus listener exists while at
    least one stream is open.
    """

    def __init__(self, bus: LocalBus, frame: Frame, queue_size: int = 256) -> None:
        self.bus = bus
        self.frame = frame
        self.queue_size = queue_size
        self._streams: dict[str, set[asyncio.Queue[bytes]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    @property
    def streams(self) -> int:
        """Open streams."""
        return sum(len(queues) for queues in self._streams.values())

    @contextlib.asynccontextmanager
    async def listen(self, wanted: str) -> AsyncIterator[asyncio.Queue[bytes]]:
        """The frames for a stream watching ``wanted`` (``""``: every agent), from the
        moment this is entered until it is left."""
        queue: asyncio.Queue[bytes] = asyncio.Queue(self.queue_size)
        self._streams.setdefault(wanted, set()).add(queue)
        try:
            if self._task is None or self._task.done():
                self._listening = asyncio.Event()
                self._task = asyncio.create_task(self._run(self._listening), name="streams")
            await self._listening.wait()  # listening on the bus before the caller goes on
            yield queue
        finally:
            watching = self._streams.get(wanted, set())
            watching.discard(queue)
            if not watching:
                self._streams.pop(wanted, None)
            if not self._streams and self._task is not None:
                self._task.cancel()
                self._task = None

    async def _run(self, listening: asyncio.Event) -> None:
        async with self.bus.listen() as messages:
            listening.set()
            while True:
                self._hand_out(await messages.get())

    def _hand_out(self, item: Delivery) -> None:
        for wanted, queues in self._streams.items():
            try:
                frame = self.frame(item, wanted)
            except Exception as exc:  # one bad message must not end every stream
                log.error("console_stream_frame_failed", kind=item.kind, reason=repr(exc))
                return
            if frame is None:
                continue
            for queue in queues:
                if queue.full():
                    queue.get_nowait()
                queue.put_nowait(frame)
