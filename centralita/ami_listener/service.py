"""The listener service: AMI client → one ordered consumer → pipeline → batched writer.

Nothing on the read path waits for the database or the broker: the protocol hands each
message to an unbounded queue (``put_nowait``); one consumer feeds the pipeline in order.

Who writes (``log_writer``):

- ``"process"`` (default): every event frame, straight from the read, and every finished
  call, after the consumer, go to the event-log writer process
  (:mod:`ami_listener.logwriter`), which builds the log rows and stores both; this process
  only frames and tracks, so ingestion uses a second core;
- ``"inline"``: the pipeline builds the log rows and a writer task of this process drains
  them in batches (a worker thread on SQLite).

Either way, when the database is down the writer keeps the batch, retries with backoff and
logs once on the healthy → failing transition; the read loop never notices. If the outage
lasts so long that more than ``max_buffered_events`` log rows wait (in this process, and
in the writer process), the oldest *log rows* are dropped down to nine tenths of the bound
(and counted) — finished call records are never dropped. A row the database refuses (a
bad value, not an outage) is set aside in ``write_rejects`` and the rest of its batch is
written (:func:`ami_listener.store.write_isolating`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.client import DEFAULT_EVENTS, AmiClient, ReadItem
from centralita.ami_listener.events import frame_worth_decoding
from centralita.ami_listener.logwriter import (
    LogWriterConfig,
    LogWriterProcess,
    WriterStats,
    trim_target,
)
from centralita.ami_listener.pipeline import EffectSink, Pipeline, is_resync_response
from centralita.ami_listener.protocol import AmiMessage, MalformedFrame
from centralita.ami_listener.store import BatchWriter, WriteRetry
from centralita.ami_listener.tracker import CallTracker

LOG_WRITERS = ("process", "inline")
LOG_WRITER_START_S = 15.0

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class AmiSettings:
    """Where and how to reach Asterisk's AMI."""

    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "centralita"
    secret: str = ""
    events: str = DEFAULT_EVENTS
    ping_interval_s: float = 10.0
    ping_timeout_s: float = 5.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0

    def __repr__(self) -> str:  # never show the secret
        return f"AmiSettings(host={self.host!r}, port={self.port}, username={self.username!r})"


class ListenerService:
    """Runs the AMI client, the consumer and the writer for one PBX."""

    def __init__(
        self,
        ami: AmiSettings,
        engine: AsyncEngine,
        tracker: CallTracker,
        sinks: Iterable[EffectSink] = (),
        *,
        batch_events: int = 2000,
        flush_interval_s: float = 0.2,
        max_buffered_events: int = 500_000,
        retry_max_s: float = 5.0,
        log_writer: str = "process",
        log_setup: Callable[[], None] | None = None,
    ) -> None:
        if log_writer not in LOG_WRITERS:
            raise ValueError(f"log_writer must be one of {', '.join(LOG_WRITERS)}: {log_writer!r}")
        self.ami = ami
        self.engine = engine
        self.tracker = tracker
        url = engine.url
        if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
            log_writer = "inline"  # a memory database cannot be shared with another process
        self.log_writer = log_writer
        self.pipeline = Pipeline(tracker, sinks=sinks, log_events=log_writer == "inline")
        self.queue: asyncio.Queue[tuple[list[ReadItem], float]] = asyncio.Queue()
        self.batch_events = batch_events
        self.flush_interval_s = flush_interval_s
        self.max_buffered_events = max_buffered_events
        self.retry_max_s = retry_max_s
        self.writer_stats = WriterStats()
        self.writer = BatchWriter(engine)
        self.log_process: LogWriterProcess | None = None
        if log_writer == "process":
            self.log_process = LogWriterProcess(
                LogWriterConfig(
                    url=url.render_as_string(hide_password=False),
                    pbx_id=tracker.pbx_id,
                    batch_events=batch_events,
                    flush_interval_s=flush_interval_s,
                    max_buffered_events=max_buffered_events,
                    retry_max_s=retry_max_s,
                    log_setup=log_setup,
                ),
                self.writer_stats,
            )
        self.client = AmiClient(
            host=ami.host,
            port=ami.port,
            username=ami.username,
            secret=ami.secret,
            on_batch=self._enqueue,
            events=ami.events,
            ping_interval_s=ami.ping_interval_s,
            ping_timeout_s=ami.ping_timeout_s,
            backoff_initial_s=ami.backoff_initial_s,
            backoff_max_s=ami.backoff_max_s,
            frame_filter=frame_worth_decoding,
        )
        self._wake = asyncio.Event()
        self._retry = WriteRetry(retry_max_s)
        self._inflight = False
        self._inflight_rows = 0
        self._dropping = False

    def _enqueue(self, batch: list[ReadItem], received_at: float) -> None:
        self.queue.put_nowait((batch, received_at))
        if self.log_process is not None:
            # The log gets every event frame straight from the read, in wire order.
            self.log_process.send(
                [
                    item if isinstance(item, bytes) else item.frame
                    for item in batch
                    if isinstance(item, bytes)
                    or (
                        isinstance(item, AmiMessage)
                        and (item.name or item.is_event or is_resync_response(item))
                    )
                ],
                received_at,
            )

    @property
    def lag(self) -> int:
        """Reads (batches of messages) received but not processed yet."""
        return self.queue.qsize()

    @property
    def db_failing(self) -> bool:
        """True while the last write to the database failed (what /health reports)."""
        if self.log_process is not None:
            return self.log_process.failing
        return self._retry.failing

    @property
    def buffered(self) -> int:
        """Rows (log rows, call records, IVR hang-ups) produced but not stored yet: held
        here, being written, or sent to the writer process and not acknowledged."""
        pending = self.log_process.pending_rows if self.log_process is not None else 0
        return len(self.pipeline.buffer) + self._inflight_rows + pending

    async def run(self) -> None:
        """Run until cancelled; a crash of one task ends the others (TaskGroup).

        On the way out the event-log writer process is given time to store what it holds.
        """
        if self.log_process is not None:
            self.log_process.start()
            # Starting the writer takes a moment (the first time, its server process
            # imports the store): connect to Asterisk once it is there, or after a while
            # anyway (what arrives meanwhile is kept and sent to it when it is up).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.log_process.connected.wait(), LOG_WRITER_START_S)
        await self.client.start()
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._consume(), name="ami-consumer")
                if self.log_process is None:
                    group.create_task(self._write_loop(), name="store-writer")
        finally:
            await self.client.stop()
            self.writer.close()
            if self.log_process is not None:
                await self.log_process.stop()

    async def _consume(self) -> None:
        pipeline = self.pipeline
        queue = self.queue
        buffer = pipeline.buffer
        events = buffer.events
        log_process = self.log_process
        while True:
            batch, received_at = await queue.get()
            for item in batch:
                if type(item) is bytes:
                    pipeline.feed_frame(item, received_at)
                elif isinstance(item, MalformedFrame):
                    pipeline.malformed(item)
                elif isinstance(item, AmiMessage):
                    pipeline.feed(item, received_at)
            if log_process is not None:
                # The writer process stores these too, after the events that finished them.
                if buffer.calls or buffer.ivr_hangups:
                    log_process.send_records(list(buffer.calls), list(buffer.ivr_hangups))
                    buffer.calls.clear()
                    buffer.ivr_hangups.clear()
            elif len(events) >= self.batch_events:
                self._wake.set()
            if len(events) > self.max_buffered_events:  # bounded even while writing
                self._trim()

    async def _write_loop(self) -> None:
        buffer = self.pipeline.buffer
        retry = self._retry
        stats = self.writer_stats
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_interval_s)
            self._wake.clear()
            self._trim()
            while len(buffer):
                batch = buffer.take(self.batch_events)
                self._inflight = True
                self._inflight_rows = len(batch.events) + len(batch.calls) + len(batch.ivr_hangups)
                try:
                    rejects = await self.writer.write(batch)
                except Exception as exc:  # the database is down: keep, retry, never block
                    buffer.put_back(batch)
                    stats.failures += 1
                    self._inflight = False
                    self._inflight_rows = 0
                    self._trim()
                    await self._backoff(retry.failed(exc, len(buffer)))
                    continue
                self._inflight = False
                self._inflight_rows = 0
                self._dropping = False
                retry.succeeded(len(buffer))
                stats.batches += 1
                stats.rows_rejected += len(rejects)
                stats.events_written += len(batch.events) - sum(r.kind == "event" for r in rejects)
                stats.calls_written += len(batch.calls) - sum(r.kind == "call" for r in rejects)
                self._trim()

    async def _backoff(self, delay_s: float) -> None:
        """Wait before the next attempt, keeping the buffer bounded meanwhile (the
        consumer wakes this task as rows come in)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay_s
        while (left := deadline - loop.time()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), left)
            self._wake.clear()
            self._trim()

    def _trim(self) -> None:
        """More than ``max_buffered_events`` log rows wait: drop the oldest down to
        nine tenths of the bound (counted). Finished calls are never dropped."""
        events = self.pipeline.buffer.events
        if len(events) <= self.max_buffered_events:
            return
        excess = len(events) - trim_target(self.max_buffered_events)
        for _ in range(excess):
            events.popleft()
        self.writer_stats.events_dropped += excess
        if not self._dropping:  # once per outage, then at debug level
            log.error("event_log_rows_dropped", count=excess, limit=self.max_buffered_events)
            self._dropping = True
        else:
            log.debug("event_log_rows_dropped", count=excess, limit=self.max_buffered_events)

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Wait until everything received so far is processed and stored (tests, shutdown)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.queue.empty() and not self.buffered and not self._inflight:
                return
            self._wake.set()
            await asyncio.sleep(0.02)
        raise TimeoutError("listener did not drain in time")
