"""The event-log writer process: the append-only log is built and stored on the second core.

Why a process: every event is logged, and building its row (decode, digest, indexed
headers) and storing it costs more Python work than tracking it; in one interpreter both
share one GIL, so the daemon could not use the machine's second core. Here the daemon's
reading process frames the stream, keeps the call tracker and sends the event frames, as
bytes, over a socket pair to a child process that writes them in batches with
:class:`ami_listener.store.BatchWriter`: into a SQLite file straight from the bytes by the
C log writer (``ami_listener._sqlitelog``), elsewhere as the rows of
:func:`ami_listener.eventlog.span_rows` (the same function as the in-process pipeline).
Either way the stored rows are the same, byte for byte.

Guarantees:

- order: spans are numbered; the child acknowledges a span once every row of it is
  committed (or, after a very long database outage, dropped and counted);
- a database outage is the child's business: it keeps the rows, retries with backoff and
  reports failures; the reading process never waits;
- a row the database refuses (not an outage: see :mod:`ami_listener.storable`) is set
  aside in ``write_rejects`` and counted; the rest of its batch is written;
- bounded: each side holds at most ``max_buffered_events`` log rows (the child what it
  has not stored, the parent what it could send again); past it the oldest rows are
  dropped, down to nine tenths of the bound, and counted. Finished call records are
  never dropped;
- a child that dies is restarted; the parent keeps every unacknowledged span and sends
  them again (storage is idempotent on the frame digest, so nothing is stored twice);
- stop: the parent closes its end; the child writes what it holds and exits.

Finished call records and IVR hang-ups go the same way (after the events that finished
them), so that one process alone writes the database: two writers of one SQLite file
queue for its lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import signal
import socket
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import structlog

from centralita.ami_listener.eventlog import epoch_ms, join_frames
from centralita.ami_listener.records import CallRecord
from centralita.ami_listener.store import Batch, BatchWriter, WriteRetry, make_engine
from centralita.ami_listener.tracker import IvrHangup

log = structlog.get_logger(__name__)

# parent → child: kind, seq, received_at, payload length, frames in it, then the payload:
# a span of event frames, or the msgpack of finished call records and IVR hang-ups.
_DATA = struct.Struct("!BQdII")
_SPAN, _RECORDS = 1, 2
# child → parent: acknowledged through seq, then deltas: events written, calls written,
# events dropped, failures, rows refused by the database; failing.
_STATUS = struct.Struct("!QQQQQQB")
_Records = tuple[list[CallRecord], list[IvrHangup]]
# What the child holds per message: seq, spans of event frames with their receipt ms, how
# many frames, records.
_Held = tuple[int, list[tuple[bytes, int]], int, _Records | None]
_records_encoder = msgspec.msgpack.Encoder()
_records_decoder = msgspec.msgpack.Decoder(_Records)
# "spawn", not "forkserver": a forkserver stays alive for the daemon's life holding its own
# copy of every module it preloads (56 MB of VmRSS next to the writer's own, bench/load.py);
# a spawned writer imports what it needs once, in itself (about half a second at start).
_CONTEXT = "spawn"
QUIET_S = 0.01  # no new frames for this long: write what is held (see _Child._gather)
_SOCKET_BUFFER = 4 << 20


@dataclass
class WriterStats:
    """Event-log and call-record writer counters (both writers add to them)."""

    batches: int = 0
    events_written: int = 0
    calls_written: int = 0
    failures: int = 0
    events_dropped: int = 0
    rows_rejected: int = 0  # set aside in write_rejects (event, call and IVR rows)
    resend_dropped: int = 0  # log rows the reading process can no longer send again


def trim_target(limit: int) -> int:
    """Where a buffer past ``limit`` rows is trimmed to: nine tenths of it, so that a
    long outage trims now and then rather than at every new row."""
    return limit - limit // 10


@dataclass(frozen=True)
class LogWriterConfig:
    """What the child needs; pickled to it (the URL may hold a password: never logged)."""

    url: str
    pbx_id: str
    batch_events: int = 2000
    flush_interval_s: float = 0.2
    max_buffered_events: int = 500_000
    retry_max_s: float = 5.0
    close_timeout_s: float = 30.0
    log_setup: Callable[[], None] | None = None

    def __repr__(self) -> str:
        return f"LogWriterConfig(pbx_id={self.pbx_id!r})"


# ------------------------------------------------------------------------ child side
def child_main(sock: socket.socket, config: LogWriterConfig) -> None:
    """Entry point of the writer process."""
    # Ctrl-C reaches the whole process group: the parent decides when this process stops
    # (it closes the socket), so that nothing it holds is lost.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if config.log_setup is not None:
        config.log_setup()
    asyncio.run(_Child(sock, config).run())


class _Child:
    def __init__(self, sock: socket.socket, config: LogWriterConfig) -> None:
        self.sock = sock
        self.config = config
        self.spans: deque[_Held] = deque()
        self.rows = 0
        self.received = 0  # messages read from the parent
        self.closing = False
        self.dropping = False  # rows were dropped since the last successful write
        self.wake = asyncio.Event()
        self.out: asyncio.StreamWriter | None = None

    async def run(self) -> None:
        engine = make_engine(self.config.url)
        writer = BatchWriter(engine)
        reader, self.out = await asyncio.open_unix_connection(sock=self.sock, limit=_SOCKET_BUFFER)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._read(reader))
                group.create_task(self._write(writer))
        finally:
            writer.close()
            await engine.dispose()
            self.out.close()

    async def _read(self, reader: asyncio.StreamReader) -> None:
        batch = self.config.batch_events
        try:
            while True:
                head = await reader.readexactly(_DATA.size)
                kind, seq, received_at, size, n = _DATA.unpack(head)
                payload = await reader.readexactly(size) if size else b""
                self.received += 1
                if kind == _RECORDS:
                    self.spans.append((seq, [], 0, _records_decoder.decode(payload)))
                    self.wake.set()
                    continue
                # Kept as bytes: the rows are made where they are written (in C straight
                # into a SQLite file, see BatchWriter.write_blocking).
                self.spans.append((seq, [(payload, epoch_ms(received_at))], n, None))
                self.rows += n
                if self.rows > self.config.max_buffered_events:
                    self._trim()
                if self.rows >= batch:
                    self.wake.set()
                    # readexactly() does not yield while data is buffered: let the writer in.
                    await asyncio.sleep(0)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the parent closed its end: write what is held, then exit
        self.closing = True
        self.wake.set()

    def _report(
        self,
        acked: int,
        *,
        written: int = 0,
        calls: int = 0,
        dropped: int = 0,
        failures: int = 0,
        rejected: int = 0,
        failing: bool,
    ) -> None:
        assert self.out is not None
        with contextlib.suppress(ConnectionError, RuntimeError):
            self.out.write(
                _STATUS.pack(acked, written, calls, dropped, failures, rejected, int(failing))
            )

    def _take(self) -> tuple[int, Batch, int, int]:
        """Whole spans and records, oldest first, up to about ``batch_events`` rows:
        (last seq, batch, messages taken, rows)."""
        batch = Batch([], pbx_id=self.config.pbx_id)
        rows = 0
        last = -1
        taken = 0
        while self.spans and (not rows or rows + self.spans[0][2] <= self.config.batch_events):
            seq, spans, n, records = self.spans.popleft()
            batch.spans.extend(spans)
            rows += n
            if records is not None:
                batch.calls.extend(records[0])
                batch.ivr_hangups.extend(records[1])
            last = seq
            taken += 1
        self.rows -= rows
        return last, batch, taken, rows

    def _trim(self) -> None:
        """More than ``max_buffered_events`` rows held (the database down, or far slower
        than the stream, for too long): drop the oldest log rows down to
        :func:`trim_target` (counted). Finished calls are never dropped."""
        limit = self.config.max_buffered_events
        if self.rows <= limit:
            return
        target = trim_target(limit)
        dropped = 0
        kept: list[_Held] = []
        while self.spans and self.rows > target:
            seq, _spans, n, records = self.spans.popleft()
            self.rows -= n
            dropped += n
            if records is not None:  # finished calls are never dropped
                kept.append((seq, [], 0, records))
        self.spans.extendleft(reversed(kept))
        if dropped:
            if not self.dropping:  # once per outage, then at debug level
                log.error("event_log_rows_dropped", count=dropped, limit=limit)
                self.dropping = True
            else:
                log.debug("event_log_rows_dropped", count=dropped, limit=limit)
            # Not acknowledged: the parent may still hold them (it sends them again if this
            # process is restarted) until a later write acknowledges past them.
            self._report(0, dropped=dropped, failing=True)

    async def _gather(self, cfg: LogWriterConfig) -> None:
        """Not a full batch yet: wait while frames keep arriving, up to the flush interval.
        A pause of ``QUIET_S`` (the stream stopped, or the end of a burst) writes at once
        rather than at the end of the interval."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + cfg.flush_interval_s
        while self.rows < cfg.batch_events and not self.closing:
            seen = self.received
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), QUIET_S)
            self.wake.clear()
            if self.received == seen or loop.time() >= deadline:
                return

    async def _write(self, writer: BatchWriter) -> None:
        cfg = self.config
        retry = WriteRetry(cfg.retry_max_s)
        closing_since: float | None = None
        while True:
            if not self.spans:
                if self.closing:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), cfg.flush_interval_s)
                self.wake.clear()
                continue
            if self.rows < cfg.batch_events and not self.closing:
                await self._gather(cfg)
            last, batch, taken, rows = self._take()
            if not taken:
                continue
            try:
                if writer.blocking_ok:
                    # SQLite: written here, not in a worker thread. This process has
                    # nothing else to do meanwhile (the socket buffers what arrives), and a
                    # thread would only queue for the GIL behind the row building.
                    rejects = writer.write_blocking(batch)
                else:
                    rejects = await writer.write(batch)
            except Exception as exc:  # the database is down: keep, retry, report
                # Put the batch back as one merged span under its last seq (it is
                # acknowledged as a whole).
                self.spans.appendleft((last, batch.spans, rows, (batch.calls, batch.ivr_hangups)))
                self.rows += rows
                self._trim()
                wait_s = retry.failed(exc, self.rows)
                self._report(0, failures=1, failing=True)
                if self.closing:
                    closing_since = closing_since or time.monotonic()
                    if time.monotonic() - closing_since > cfg.close_timeout_s:
                        log.error("event_log_rows_lost_at_stop", count=self.rows)
                        return
                await asyncio.sleep(wait_s)
                continue
            retry.succeeded(self.rows)
            self.dropping = False
            refused_events = sum(1 for r in rejects if r.kind == "event")
            refused_calls = sum(1 for r in rejects if r.kind == "call")
            self._report(
                last,
                written=rows - refused_events,
                calls=len(batch.calls) - refused_calls,
                rejected=len(rejects),
                failing=False,
            )


# ----------------------------------------------------------------------- parent side
class LogWriterProcess:
    """The reading process's handle on the writer process (start, send, drain, stop)."""

    def __init__(
        self,
        config: LogWriterConfig,
        stats: WriterStats,
        *,
        restart_delay_s: float = 0.5,
    ) -> None:
        self.config = config
        self.stats = stats
        self.restart_delay_s = restart_delay_s
        self.restarts = 0
        self._seq = 0
        self._acked = 0
        # seq, kind, received_at, payload, log rows, rows (log rows, or records)
        self._unacked: deque[tuple[int, int, float, bytes, int, int]] = deque()
        self._unacked_events = 0
        self._unacked_rows = 0
        self._window_full_logged = False
        self._writer: asyncio.StreamWriter | None = None
        self._process: Any = None
        self._stopping = False
        self._failing = False
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    @property
    def pending_events(self) -> int:
        """Events sent and not yet acknowledged."""
        return self._unacked_events

    @property
    def pending(self) -> int:
        """Messages (spans of events, or records) sent and not yet acknowledged."""
        return len(self._unacked)

    @property
    def pending_rows(self) -> int:
        """Rows (log rows, call records, IVR hang-ups) sent and not yet acknowledged."""
        return self._unacked_rows

    @property
    def pid(self) -> int | None:
        """The writer process's pid (None before its first start)."""
        proc = self._process
        return None if proc is None or proc.pid is None else int(proc.pid)

    @property
    def failing(self) -> bool:
        """True while the child reports that the database refuses writes."""
        return self._failing

    def send(self, frames: list[bytes], received_at: float) -> None:
        """Queue event frames for the log (never blocks: the transport buffers)."""
        if frames:
            self._send(_SPAN, received_at, join_frames(frames), len(frames), len(frames))

    def send_records(self, calls: list[CallRecord], ivr_hangups: list[IvrHangup]) -> None:
        """Queue finished call records and IVR hang-ups (after the events that made them)."""
        if calls or ivr_hangups:
            payload = _records_encoder.encode((calls, ivr_hangups))
            self._send(_RECORDS, 0.0, payload, 0, len(calls) + len(ivr_hangups))

    def _send(
        self, kind: int, received_at: float, payload: bytes, n_events: int, rows: int
    ) -> None:
        self._seq += 1
        self._unacked.append((self._seq, kind, received_at, payload, n_events, rows))
        self._unacked_events += n_events
        self._unacked_rows += rows
        if self._unacked_events > self.config.max_buffered_events:
            self._shrink_window()
        writer = self._writer
        if writer is not None and not writer.is_closing():
            writer.write(_DATA.pack(kind, self._seq, received_at, len(payload), n_events))
            writer.write(payload)

    def _shrink_window(self) -> None:
        """Drop the oldest spans of log rows down to :func:`trim_target` (counted in
        ``resend_dropped``). The child holds them too (it bounds and counts its own):
        only the ability to send them again after a crash goes. Finished call records
        are never dropped: they stay, in order, between the spans that are kept."""
        limit = self.config.max_buffered_events
        target = trim_target(limit)
        unacked = self._unacked
        records: list[tuple[int, int, float, bytes, int, int]] = []
        dropped = 0
        while unacked and self._unacked_events > target:
            item = unacked.popleft()
            if item[1] == _RECORDS:
                records.append(item)
                continue
            self._unacked_events -= item[4]
            self._unacked_rows -= item[5]
            dropped += item[4]
        unacked.extendleft(reversed(records))
        self.stats.resend_dropped += dropped
        if not self._window_full_logged:
            log.error("event_log_resend_window_full", limit=limit, dropped=dropped)
            self._window_full_logged = True

    def start(self) -> None:
        """Start the child and its supervisor (a background task: :meth:`stop` ends it)."""
        if self._task is None:
            self._task = asyncio.create_task(self._supervise(), name="event-log-writer")

    async def _supervise(self) -> None:
        while True:
            try:
                await self._run_child()
            except Exception as exc:  # could not start the child: try again
                log.error("event_log_writer_failed", reason=str(exc)[:200])
            if self._stopping:
                break
            self.restarts += 1
            log.error(
                "event_log_writer_restarted",
                restarts=self.restarts,
                exitcode=getattr(self._process, "exitcode", None),
                resent_events=self._unacked_events,
            )
            await asyncio.sleep(self.restart_delay_s)

    async def _run_child(self) -> None:
        ctx: Any = multiprocessing.get_context(_CONTEXT)
        if _CONTEXT == "forkserver":
            ctx.set_forkserver_preload([__name__])
        mine, theirs = socket.socketpair()
        try:
            for sock in (mine, theirs):
                # Large buffers: the reading process hands over a whole read's frames at
                # once even when its event loop only gets back to the socket now and then.
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SOCKET_BUFFER)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _SOCKET_BUFFER)
            self._process = ctx.Process(
                target=child_main, args=(theirs, self.config), name="centralita-eventlog"
            )
            self._process.daemon = True
            await asyncio.to_thread(self._process.start)
            reader, writer = await asyncio.open_unix_connection(sock=mine)
        except BaseException:
            mine.close()  # not handed to a transport yet (failed or cancelled start)
            raise
        finally:
            theirs.close()
        self._writer = writer
        self.connected.set()
        for seq, kind, received_at, payload, n, _rows in self._unacked:  # resend the unstored
            writer.write(_DATA.pack(kind, seq, received_at, len(payload), n))
            writer.write(payload)
        if self._stopping:
            writer.write_eof()
        try:
            while True:
                report = await reader.readexactly(_STATUS.size)
                self._apply(_STATUS.unpack(report))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writer = None
            self.connected.clear()
            writer.close()
            await asyncio.to_thread(self._process.join, 5)

    def _apply(self, status: tuple[int, ...]) -> None:
        acked, written, calls, dropped, failures, rejected, failing = status
        stats = self.stats
        stats.events_written += written
        stats.calls_written += calls
        stats.events_dropped += dropped
        stats.failures += failures
        stats.rows_rejected += rejected
        if written or calls:
            stats.batches += 1
        self._failing = bool(failing)
        if acked:
            self._acked = max(self._acked, acked)
            unacked = self._unacked
            while unacked and unacked[0][0] <= self._acked:
                item = unacked.popleft()
                self._unacked_events -= item[4]
                self._unacked_rows -= item[5]
            if not unacked:
                self._window_full_logged = False

    async def stop(self) -> None:
        """Close the child's input; it writes what it holds and exits (or is killed)."""
        self._stopping = True
        writer = self._writer
        if writer is not None and not writer.is_closing():
            with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                writer.write_eof()
        task = self._task
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), self.config.close_timeout_s + 5)
            except TimeoutError:
                log.error("event_log_writer_stop_timeout", pending=self._unacked_events)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        proc = self._process
        if proc is not None and proc.is_alive():
            proc.terminate()
            await asyncio.to_thread(proc.join, 5)
            if proc.is_alive():
                proc.kill()
