"""The AMI connection: panoramisk's ``Manager`` (login, actions) with our own protocol.

This is the one adapter module that touches panoramisk (untyped). What it changes:

- ``protocol_factory`` = :class:`FramingProtocol`: bytes framing and whole-message UTF-8
  decoding (:mod:`ami_listener.protocol`); events are handed to ``on_message`` in wire
  order (the daemon's single consumer), never to panoramisk's ``dispatch`` (which fires
  coroutine callbacks as unreferenced tasks, out of order, exceptions lost);
- a ping watchdog: a Ping without an answer within ``ping_timeout_s`` closes the
  connection (panoramisk's ping never notices a dead peer);
- reconnect with exponential backoff, reset after a successful login;
- after every (re)login, a ``QueueStatus`` whose answer (events with a
  ``centralita-resync-N`` ActionID) flows through the same ordered stream, so the tracker
  resynchronises calls that joined or ended during the outage;
- login asks only for the event classes the listener needs;
- the secret is held only in panoramisk's config and never logged.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from centralita.ami_listener.exceptions import AmiConnectionError
from centralita.ami_listener.pipeline import CHANNELS_SUFFIX, CLOCK_SUFFIX, RESYNC_ACTION_PREFIX
from centralita.ami_listener.protocol import (
    AmiMessage,
    AmiParser,
    Banner,
    MalformedFrame,
    encode_action,
)

log = structlog.get_logger(__name__)

DEFAULT_EVENTS = "call,agent,user,dialplan"

ReadItem = AmiMessage | MalformedFrame | bytes
"""A message, a rejected frame, or an event frame left unparsed (see ``frame_filter``)."""
MessageHandler = Callable[[ReadItem, float], None]
BatchHandler = Callable[[list[ReadItem], float], None]


@dataclass
class ClientStats:
    """Connection counters for /metrics and the demo."""

    connects: int = 0
    logins: int = 0
    login_failures: int = 0
    disconnects: int = 0
    ping_timeouts: int = 0
    resyncs_requested: int = 0
    bytes_received: int = 0


class FramingProtocol(AMIProtocol):  # type: ignore[misc]
    """panoramisk protocol with byte framing; events go to the manager's handler."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.parser = AmiParser()
        # The manager attaches itself (``factory``) in a callback that may run after the
        # first bytes arrive: read nothing until it has (AmiClient.connection_made resumes).
        transport.pause_reading()

    def send(self, data: Any, as_list: bool = False) -> Any:
        """Send an action (panoramisk API) without ever logging it (it may hold a secret)."""
        from panoramisk import actions

        if not isinstance(data, actions.Action):
            data = actions.Action(data, as_list=as_list)
        data.as_list = as_list
        self.responses[data.id] = data
        if data.action_id:
            self.responses[data.action_id] = data
        self.transport.write(encode_action([(str(k), str(v)) for k, v in data.items()]))
        return data.future

    def send_raw(self, fields: list[tuple[str, str]]) -> None:
        """Write an action whose answer is read from the event stream, not a future."""
        self.transport.write(encode_action(fields))

    def data_received(self, data: bytes) -> None:
        factory = self.factory
        received_at = time.time()
        factory.stats.bytes_received += len(data)
        batch: list[ReadItem] = []
        for item in self.parser.feed(data):
            if isinstance(item, bytes):  # an event nobody reads: only counted and logged
                batch.append(item)
                if item.startswith(b"Event: Shutdown\n") or item == b"Event: Shutdown":
                    factory.deliver(batch, received_at)
                    batch = []
                    self.connection_lost(None)
                continue
            if isinstance(item, Banner):
                self.version = item.version
                factory.banner_received(item.version)
                continue
            batch.append(item)
            if isinstance(item, MalformedFrame):
                continue
            if item.is_event:
                if item.name == "Shutdown":
                    factory.deliver(batch, received_at)
                    batch = []
                    self.connection_lost(None)
            else:
                headers: dict[str, Any] = dict(item.to_raw())
                self.handle_message(Message(headers, item.body))
        if batch:
            factory.deliver(batch, received_at)


class AmiClient(Manager):  # type: ignore[misc]
    """A supervised AMI connection feeding one ordered message handler."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        secret: str,
        on_message: MessageHandler | None = None,
        on_batch: BatchHandler | None = None,
        events: str = DEFAULT_EVENTS,
        ping_interval_s: float = 10.0,
        ping_timeout_s: float = 5.0,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 30.0,
        resync: bool = True,
        frame_filter: Callable[[bytes], bool] | None = None,
    ) -> None:
        """``frame_filter``: event frames it rejects are delivered as bytes, unparsed."""
        super().__init__(
            host=host,
            port=port,
            username=username,
            secret=secret,
            events=events,
            ping_delay=10**9,  # panoramisk's own pinger is replaced by the watchdog
            ping_interval=10**9,
            reconnect_timeout=backoff_initial_s,
            protocol_factory=FramingProtocol,
            forgetable_actions=("ping", "login", "queuestatus"),
        )
        # panoramisk casts reconnect_timeout to int; keep our own float backoff.
        self.reconnect_timeout = backoff_initial_s
        self.on_message = on_message
        self.on_batch = on_batch
        self.frame_filter = frame_filter
        self.stats = ClientStats()
        self.ping_interval_s = ping_interval_s
        self.ping_timeout_s = ping_timeout_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.resync_enabled = resync
        self.version: str | None = None
        self._resync_ids = itertools.count(1)
        self._run_token = f"{time.time_ns() // 1_000_000:x}"
        self._watchdog: asyncio.Task[None] | None = None
        self._failing = False
        self._closing = False
        self.logged_in = asyncio.Event()

    def deliver(self, batch: list[ReadItem], received_at: float) -> None:
        """Hand what one read produced to the consumer, in wire order."""
        if self.on_batch is not None:
            self.on_batch(batch, received_at)
        elif self.on_message is not None:
            for item in batch:
                self.on_message(item, received_at)

    # ------------------------------------------------------------- panoramisk hooks
    def banner_received(self, version: str) -> None:
        """The greeting line arrived: record the AMI version (1.3 = Asterisk 11)."""
        self.version = version
        log.info("ami_connected", host=self.config["host"], port=self.config["port"], ami=version)

    def connection_made(self, f: Any) -> None:
        if self._closing:
            # A connect that completes after stop(): close it rather than leak it.
            if not f.cancelled() and f.exception() is None:
                transport, _protocol = f.result()
                transport.close()
            return
        try:
            f.result()
        except OSError as exc:
            self._note_failure("ami_connect_failed", reason=str(exc))
            self._schedule_reconnect()
            return
        self.stats.connects += 1
        super().connection_made(f)
        transport, protocol = f.result()
        protocol.parser.frame_filter = self.frame_filter
        if not transport.is_closing():
            transport.resume_reading()

    def login(self, future: Any) -> bool:
        try:
            ok = bool(super().login(future))
        except Exception as exc:  # connection closed during login
            self._note_failure("ami_login_failed", reason=str(exc))
            return False
        if not ok:
            self.stats.login_failures += 1
            self._note_failure("ami_login_failed", reason="authentication refused")
            self._drop(AmiConnectionError("login refused"))
            return False
        self.stats.logins += 1
        if self._failing:
            log.info("ami_connection_restored", host=self.config["host"])
        self._failing = False
        self.reconnect_timeout = self.backoff_initial_s
        log.info("ami_logged_in", username=self.config["username"], events=self.config["events"])
        self.logged_in.set()
        if self.resync_enabled:
            self.request_resync()
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.ensure_future(self._ping_watchdog())
        return True

    def connection_lost(self, exc: Any) -> None:
        self.logged_in.clear()
        self.stats.disconnects += 1
        self._note_failure("ami_connection_lost", reason=str(exc) if exc else "closed")
        if self._closing:
            return
        self._schedule_reconnect()

    # ------------------------------------------------------------------- ours
    def _note_failure(self, event: str, **kw: Any) -> None:
        """Error on the healthy → failing transition only, then debug per retry."""
        if self._failing:
            log.debug(event, **kw)
        else:
            log.error(event, host=self.config["host"], port=self.config["port"], **kw)
        self._failing = True

    def _drop(self, reason: Exception) -> None:
        """Close from our side; panoramisk's protocol then stays silent, so tell ourselves."""
        protocol = self.protocol
        if protocol is not None and not protocol.closed:
            protocol.close()
            self.connection_lost(reason)

    def _schedule_reconnect(self) -> None:
        if self._closing:
            return
        delay = self.reconnect_timeout
        self.reconnect_timeout = min(self.backoff_max_s, max(delay * 2, self.backoff_initial_s))
        self.loop.call_later(delay, self._reconnect)

    def _reconnect(self) -> None:
        if not self._closing:
            self.connect()

    def request_resync(self) -> str:
        """Ask the PBX for its clock (Ping), its live channels (Status) and its queues
        (QueueStatus), in one write; the answers flow through the ordered event stream
        and into the event log (the ActionIDs carry this run's token, so that the answers
        of two daemon runs never look alike in the log)."""
        action_id = f"{RESYNC_ACTION_PREFIX}{self._run_token}-{next(self._resync_ids)}"
        if self.protocol is not None and not self.protocol.closed:
            self.protocol.send_raw([("Action", "Ping"), ("ActionID", action_id + CLOCK_SUFFIX)])
            self.protocol.send_raw(
                [("Action", "Status"), ("ActionID", action_id + CHANNELS_SUFFIX)]
            )
            self.protocol.send_raw([("Action", "QueueStatus"), ("ActionID", action_id)])
            self.stats.resyncs_requested += 1
        return action_id

    async def _ping_watchdog(self) -> None:
        while not self._closing:
            await asyncio.sleep(self.ping_interval_s)
            protocol = self.protocol
            if protocol is None or protocol.closed or not self.logged_in.is_set():
                continue
            try:
                await asyncio.wait_for(
                    protocol.send({"Action": "Ping"}), timeout=self.ping_timeout_s
                )
            except TimeoutError:
                self.stats.ping_timeouts += 1
                log.warning("ami_ping_timed_out", timeout_s=self.ping_timeout_s)
                self._drop(AmiConnectionError("ping timed out"))
            except Exception as exc:  # connection dropped while waiting
                log.debug("ami_ping_failed", reason=str(exc))

    async def start(self) -> None:
        """Connect (in the background: failures retry with backoff)."""
        self.loop = asyncio.get_running_loop()
        self._closing = False
        self.connect()

    async def send(self, fields: dict[str, str], timeout_s: float = 10.0) -> AmiMessage:
        """Send an action and wait for its response.

        Raises:
            AmiConnectionError: not connected, or no answer in time.
        """
        protocol = self.protocol
        if protocol is None or protocol.closed or not self.logged_in.is_set():
            raise AmiConnectionError("AMI not connected")
        try:
            response = await asyncio.wait_for(protocol.send(fields), timeout=timeout_s)
        except TimeoutError as exc:
            raise AmiConnectionError(f"no answer to {fields.get('Action')}") from exc
        headers = {str(k): str(v) for k, v in response.items() if k != "content"}
        return AmiMessage(headers)

    async def stop(self) -> None:
        """Log off and close; no reconnect."""
        self._closing = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        protocol = self.protocol
        if protocol is not None and not protocol.closed:
            try:
                protocol.send_raw([("Action", "Logoff")])
            except Exception as exc:  # transport already gone
                log.debug("ami_logoff_failed", reason=str(exc))
            protocol.close()
        self.close()
