"""The screen-pop publisher: tracker effects → MQTT (aiomqtt) and an in-process bus.

On ``CallAnswered`` it builds a :class:`ScreenPop` (who calls, the IVR's result, the
customer record, the service's script) for the agent who answered and publishes it to
``centralita/<pbx>/agents/<agent>/screenpop`` with QoS 1. Call lifecycle events go to
``centralita/<pbx>/calls/<event>`` (``joined``, ``answered``, ``abandoned``, ``ended``); the
daemon's status is the retained ``centralita/<pbx>/status``, ``offline`` as the will.
``docs/mqtt.md`` documents the topics; the payloads are in :mod:`centralita.screenpop.model`.

``handle`` runs on the ingest path: it only builds a small struct and appends it to an
inbox. ``run`` (one task) enriches pops with the customer record and keeps the broker
connection (reconnect with backoff; aiomqtt has none), with a username/password and TLS
when given (the broker need not accept anonymous plaintext clients). While connected, a
ready message is handed to aiomqtt at once (no extra task wake-up on the pop's path), and
the socket has ``TCP_NODELAY`` so that back-to-back QoS 1 packets are not held by Nagle's
algorithm.
While the broker is away, messages wait in a bounded buffer; on reconnect the ones still
fresh are sent, older ones are dropped and counted. With no broker configured
(``host=None``) the in-process bus (``bus.LocalBus``) alone delivers pops (the console
subscribes to it in both cases).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import aiomqtt
import msgspec
import structlog

from centralita.ami_listener.records import CallRecord, iso_utc
from centralita.ami_listener.tracker import (
    CallAnswered,
    CallFinished,
    CallJoined,
    CallLeftAgent,
    Effect,
)
from centralita.screenpop.bus import Delivery, LocalBus
from centralita.screenpop.model import (
    CallEvent,
    CallEventKind,
    CustomerInfo,
    CustomerLookup,
    IvrInfo,
    ScreenPop,
    ServiceResolver,
    Status,
    agent_id,
)
from centralita.screenpop.resolvers import service_resolver

log = structlog.get_logger(__name__)

MAX_INFLIGHT = 16  # QoS 1 publishes awaiting their PUBACK at once


def _flush(client: aiomqtt.Client) -> None:
    """Write the packets just queued in paho now.

    aiomqtt asks the loop for a writer callback with ``call_soon_threadsafe(add_writer)``,
    so a publish reaches the socket two loop turns later; on a busy daemon loop that was
    the largest step of a pop's path (1.6-2.7 ms p50 of 4.5-5 ms, bench/RESULTS.md). paho's
    ``loop_write`` is what that callback calls, on the same thread; the callback then finds
    nothing left to write. aiomqtt keeps its paho client in ``_client``: if a release
    renames it, this does nothing and the writer callback sends as before.
    """
    paho_client = getattr(client, "_client", None)
    if paho_client is not None:
        paho_client.loop_write()
        asyncio.get_running_loop().call_soon(_sync_writer, paho_client)


def _sync_writer(paho_client: Any) -> None:
    """Make the loop's writer registration agree with paho's after :func:`_flush`.

    The ``add_writer`` that aiomqtt queued for the publish runs *after* ``_flush`` wrote
    everything and paho unregistered its writer (a no-op then): the loop kept a writer
    callback that paho no longer knew about. It spun on every loop turn, and at the
    session's end paho closed the socket without removing it, so the next ``add_writer``
    on that file number failed with "Bad file descriptor" (logged at every daemon stop).
    Queued after that ``add_writer`` (FIFO), this removes it when paho has nothing to write.
    """
    sock = getattr(paho_client, "_sock", None)
    if sock is None or getattr(paho_client, "_registered_write", True):
        return
    with contextlib.suppress(OSError, ValueError):
        asyncio.get_running_loop().remove_writer(sock.fileno())


def _raise_if_cancelling() -> None:
    """Python 3.11's ``wait_for`` (inside aiomqtt) may swallow a cancellation that races
    with completion; honour a pending cancel before waiting again."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


@dataclass
class PublisherStats:
    """Counters for /metrics and tests."""

    published: int = 0
    pops: int = 0
    dropped_stale: int = 0
    dropped_overflow: int = 0
    connects: int = 0
    connected: bool = False


@dataclass
class _Outbound:
    topic: str
    body: bytes
    created: float  # time.monotonic() at handle()
    max_age_s: float


@dataclass
class _PopDraft:
    pop: ScreenPop
    created: float
    lookup: tuple[str, str] | None


@dataclass
class _Settings:
    buffer_size: int
    pop_max_age_s: float
    event_max_age_s: float
    customer_timeout_s: float
    publish_timeout_s: float
    backoff_s: tuple[float, float] = (0.5, 15.0)


class ScreenPopPublisher:
    """EffectSink that publishes screen-pops and call events; ``run()`` is its task."""

    def __init__(
        self,
        pbx_id: str,
        host: str | None = "127.0.0.1",
        port: int = 1883,
        *,
        services: ServiceResolver | None = None,
        customer_lookup: CustomerLookup | None = None,
        bus: LocalBus | None = None,
        buffer_size: int = 1000,
        pop_max_age_s: float = 30.0,
        event_max_age_s: float = 300.0,
        customer_timeout_s: float = 0.3,
        publish_timeout_s: float = 5.0,
        backoff_s: tuple[float, float] = (0.5, 15.0),
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        tls_context: ssl.SSLContext | None = None,
        tls_insecure: bool = False,
    ) -> None:
        self.pbx_id = pbx_id
        self.host = host
        self.port = port
        self.bus = bus if bus is not None else LocalBus()
        self.stats = PublisherStats()
        self.prefix = f"centralita/{pbx_id}"
        self._services = services if services is not None else service_resolver()
        self._lookup = customer_lookup
        self._cfg = _Settings(
            buffer_size,
            pop_max_age_s,
            event_max_age_s,
            customer_timeout_s,
            publish_timeout_s,
            backoff_s,
        )
        self._client_id = client_id or f"centralita-{pbx_id}"
        self._auth = (username, password)
        self._tls = tls_context
        self._tls_insecure = tls_insecure if tls_context is not None else None
        self._inbox: deque[_PopDraft | _Outbound | tuple[str, str, str]] = deque()
        self._inbox_ready = asyncio.Event()
        self._pops: deque[_Outbound] = deque()  # sent first: an agent is waiting
        self._events: deque[_Outbound] = deque()
        self._inflight: dict[asyncio.Task[None], tuple[deque[_Outbound], _Outbound]] = {}
        self._outbound_ready = asyncio.Event()
        self._live: aiomqtt.Client | None = None  # the connected client, while a session lasts
        self._lookups: dict[str, asyncio.Task[CustomerInfo | None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._enc = msgspec.json.Encoder()

    # ---------------------------------------------------------------- ingest side
    def handle(self, effect: Effect) -> None:
        """Take one tracker effect: build the message and enqueue it (never blocks)."""
        now = time.monotonic()
        if isinstance(effect, CallAnswered):
            pop = self._pop(effect)
            self._put(_PopDraft(pop, now, self._lookup_key(effect.call)))
            self._put_event("answered", effect.call, now, agent=pop.agent)
        elif isinstance(effect, CallJoined):
            if len(effect.call.entries) == 1:
                self._put_event("joined", effect.call, now)
                key = self._lookup_key(effect.call)
                if key is not None:
                    self._put((effect.call.uniqueid, *key))
        elif isinstance(effect, CallLeftAgent):
            # the agent who transferred the call is done with it (the caller goes on)
            self._put_event(
                "transferred",
                effect.call,
                now,
                agent=agent_id(effect.agent_interface),
                agent_name=effect.agent_name,
                at=effect.at,
            )
        elif isinstance(effect, CallFinished):
            call = effect.call
            if not call.answered:
                self._put_event("abandoned", call, now)
            self._put_event("ended", call, now)
            self._put((call.uniqueid, "", ""))  # forget its lookup

    def publish_pop(self, pop: ScreenPop) -> None:
        """Publish a pop built elsewhere (the campaign's, which carries its customer)."""
        self._emit_pop(_PopDraft(pop, time.monotonic(), None))

    def publish_interaction(self, body: bytes) -> None:
        """Enqueue an interaction record for ``centralita/<pbx>/interactions``."""
        item = _Outbound(
            f"{self.prefix}/interactions", body, time.monotonic(), self._cfg.event_max_age_s
        )
        self.bus.deliver(Delivery("interaction", item.topic, body))
        self._put(item)

    def _put(self, item: _PopDraft | _Outbound | tuple[str, str, str]) -> None:
        if len(self._inbox) >= self._cfg.buffer_size:
            self._inbox.popleft()
            self.stats.dropped_overflow += 1
        self._inbox.append(item)
        self._inbox_ready.set()

    def _put_event(
        self,
        kind: CallEventKind,
        call: CallRecord,
        now: float,
        *,
        agent: str = "",
        agent_name: str | None = None,
        at: float | None = None,
    ) -> None:
        event = CallEvent(
            event=kind,
            pbx=self.pbx_id,
            call_id=call.uniqueid,
            linkedid=call.linkedid,
            service=call.service,
            queue=call.queue,
            caller_num=call.caller_num,
            at=iso_utc(at)
            or iso_utc(call.ended_at if kind in ("ended", "abandoned") else None)
            or iso_utc(call.answered_at if kind == "answered" else call.entered_at),
            wait_s=call.wait_s if kind != "joined" else None,
            agent=agent,
            agent_name=(call.agent_name if agent else "") if agent_name is None else agent_name,
            outcome=call.outcome if kind in ("ended", "abandoned") else None,
        )
        topic = f"{self.prefix}/calls/{kind}"
        self._put(_Outbound(topic, self._enc.encode(event), now, self._cfg.event_max_age_s))

    def _lookup_key(self, call: CallRecord) -> tuple[str, str] | None:
        if self._lookup is None:
            return None
        contract = (call.ivr or {}).get("customer", "")
        if contract:
            return ("contract", contract)
        digits = "".join(ch for ch in call.caller_num if ch.isdigit())
        return ("phone", digits) if digits else None

    def _pop(self, effect: CallAnswered) -> ScreenPop:
        call = effect.call
        # The service of the queue that answered: a call transferred from 102 to 101
        # pops 101's script to the 101 agent (the record stays 102's, one call).
        entry = next((e for e in reversed(call.entries) if e.queue == effect.queue), None)
        service = entry.service if entry is not None and entry.service else call.service
        ivr = None
        if call.ivr is not None:
            f = call.ivr
            ivr = IvrInfo(
                result=f.get("result", ""),
                input=f.get("input", ""),
                customer=f.get("customer", ""),
                segment=f.get("segment", ""),
                priority=f.get("priority", ""),
                fields=dict(f),
            )
        return ScreenPop(
            pbx=self.pbx_id,
            call_id=call.uniqueid,
            linkedid=call.linkedid,
            agent=agent_id(effect.agent_interface),
            agent_interface=effect.agent_interface,
            agent_name=effect.agent_name,
            service=service,
            service_name=service,
            queue=effect.queue,
            caller_num=call.caller_num,
            caller_name=call.caller_name,
            entered_at=iso_utc(call.entered_at),
            answered_at=iso_utc(call.answered_at),
            wait_s=call.wait_s,
            ivr=ivr,
            customer=None,
            script_id=None,
            script_version=None,
            created_at=iso_utc(time.time()),
            channel=effect.caller_channel,
        )

    # ---------------------------------------------------------------- async side
    async def run(self) -> None:
        """Prepare messages and keep the broker connection until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._prepare_loop())
            if self.host is not None:
                group.create_task(self._connection_loop())

    async def _prepare_loop(self) -> None:
        try:
            while True:
                await self._inbox_ready.wait()
                self._inbox_ready.clear()
                while self._inbox:
                    item = self._inbox.popleft()
                    if isinstance(item, _Outbound):
                        self._emit(item, "call")
                    elif isinstance(item, _PopDraft):
                        self._prepare_pop(item)
                    else:
                        self._prefetch(*item)
        finally:
            for task in (*self._tasks, *self._lookups.values()):
                task.cancel()

    def _prefetch(self, call_id: str, kind: str, value: str) -> None:
        if not kind:  # the call ended: a pop still waiting keeps its own reference
            self._lookups.pop(call_id, None)
            return
        if self._lookup is not None and call_id not in self._lookups:
            self._lookups[call_id] = asyncio.create_task(self._lookup(kind, value))
            while len(self._lookups) > self._cfg.buffer_size:
                self._lookups.pop(next(iter(self._lookups))).cancel()

    def _prepare_pop(self, draft: _PopDraft) -> None:
        pop = draft.pop
        service = self._services(pop.service)  # may read the script file once: not on ingest
        pop.service_name, pop.script_id = service.name, service.script_id
        pop.script_version = service.script_version
        if draft.lookup is None:
            self._emit_pop(draft)
            return
        call_id = draft.pop.call_id
        if call_id not in self._lookups:
            self._prefetch(call_id, *draft.lookup)
        task = self._lookups[call_id]
        if task.done():
            self._emit_pop(draft, task)
            return
        waiter = asyncio.create_task(self._await_customer(draft, task))
        self._tasks.add(waiter)
        waiter.add_done_callback(self._tasks.discard)

    async def _await_customer(
        self, draft: _PopDraft, task: asyncio.Task[CustomerInfo | None]
    ) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), self._cfg.customer_timeout_s)
        self._emit_pop(draft, task if task.done() else None)

    def _emit_pop(
        self, draft: _PopDraft, task: asyncio.Task[CustomerInfo | None] | None = None
    ) -> None:
        pop = draft.pop
        if task is not None and not task.cancelled():
            error = task.exception()
            if error is None:
                pop.customer = task.result()
            else:
                log.warning("customer_lookup_failed", uniqueid=pop.call_id, reason=repr(error))
        topic = f"{self.prefix}/agents/{pop.agent}/screenpop"
        item = _Outbound(topic, self._enc.encode(pop), draft.created, self._cfg.pop_max_age_s)
        self.stats.pops += 1
        self._emit(item, "screenpop", agent=pop.agent, call_id=pop.call_id)

    def _emit(self, item: _Outbound, kind: Literal["screenpop", "call"], **kw: str) -> None:
        self.bus.deliver(Delivery(kind, item.topic, item.body, **kw))
        if self.host is None:
            return
        queue = self._pops if kind == "screenpop" else self._events
        if len(queue) >= self._cfg.buffer_size:
            queue.popleft()
            self.stats.dropped_overflow += 1
        queue.append(item)
        if self._live is not None:  # publish now: waking the drain task costs loop turns
            self._send_some(self._live)
        else:
            self._outbound_ready.set()

    async def _connection_loop(self) -> None:
        """aiomqtt's reconnection recipe: connect, serve, on MqttError back off and retry."""
        assert self.host is not None
        low, high = self._cfg.backoff_s
        delay, healthy = low, True
        while True:
            connects = self.stats.connects
            try:
                await self._session()
            except aiomqtt.MqttError as exc:
                if self.stats.connects != connects:  # it was up: this is a new failure
                    delay, healthy = low, True
                if healthy:
                    log.error(
                        "mqtt_connection_failed", host=self.host, port=self.port, reason=str(exc)
                    )
                    healthy = False
                else:
                    log.debug("mqtt_reconnect_failed", reason=str(exc), retry_in_s=delay)
            _raise_if_cancelling()
            await asyncio.sleep(delay)
            delay = min(delay * 2, high)

    async def _session(self) -> None:
        assert self.host is not None
        status = f"{self.prefix}/status"
        offline = self._enc.encode(Status(status="offline"))
        client = aiomqtt.Client(
            self.host,
            self.port,
            identifier=self._client_id,
            username=self._auth[0],
            password=self._auth[1],
            tls_context=self._tls,
            tls_insecure=self._tls_insecure,
            will=aiomqtt.Will(status, offline, 1, True),
            timeout=self._cfg.publish_timeout_s,
            keepalive=15,
            # Small QoS 1 packets back to back: Nagle would hold the second one until the
            # broker ACKs the first (tens of ms when the ACK is delayed).
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )
        async with client:
            await client.publish(status, self._enc.encode(Status(status="online")), 1, True)
            self.stats.connected = True
            self.stats.connects += 1
            log.info(
                "mqtt_connected",
                host=self.host,
                port=self.port,
                username=self._auth[0],
                tls=self._tls is not None,
            )
            watch = asyncio.create_task(self._watch(client))
            try:
                await self._drain(watch, client)
            finally:
                self.stats.connected = False
                if not watch.done():  # a stop, not a broken link: say offline ourselves
                    watch.cancel()
                    with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                        await client.publish(status, offline, 1, True, timeout=1.0)

    @staticmethod
    async def _watch(client: aiomqtt.Client) -> None:
        """Ends (with MqttError) when the connection drops: aiomqtt raises in ``messages``."""
        async for _ in client.messages:
            pass

    async def _drain(self, watch: asyncio.Task[None], client: aiomqtt.Client) -> None:
        """Send pops first, then events, QoS 1, up to ``MAX_INFLIGHT`` awaiting their PUBACK;
        drop what is no longer fresh. Unacknowledged messages go back to the buffer."""
        self._live = client
        try:
            while True:
                self._outbound_ready.clear()
                self._send_some(client)
                for task in [t for t in self._inflight if t.done()]:
                    task.result()  # a failed publish ends the session (MqttError)
                _raise_if_cancelling()
                ready = asyncio.ensure_future(self._outbound_ready.wait())
                try:
                    await asyncio.wait({ready, watch}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    ready.cancel()
                if watch.done():
                    watch.result()  # raises the MqttError that ended it
                    raise aiomqtt.MqttError("disconnected from the broker")
        finally:
            self._live = None
            for task, (queue, item) in reversed(list(self._inflight.items())):
                task.cancel()
                queue.appendleft(item)
            self._inflight.clear()

    def _send_some(self, client: aiomqtt.Client) -> None:
        now = time.monotonic()
        started = False
        while len(self._inflight) < MAX_INFLIGHT and (self._pops or self._events):
            queue = self._pops if self._pops else self._events
            item = queue.popleft()
            if now - item.created > item.max_age_s:
                self.stats.dropped_stale += 1
                log.debug("mqtt_message_dropped", topic=item.topic, reason="stale")
                continue
            task = asyncio.create_task(client.publish(item.topic, item.body, 1))
            self._inflight[task] = (queue, item)
            task.add_done_callback(self._acked)
            started = True
        if started:  # runs right after the publish tasks' first step (FIFO)
            asyncio.get_running_loop().call_soon(_flush, client)

    def _acked(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        if task.exception() is None:
            self._inflight.pop(task, None)
            self.stats.published += 1
        self._outbound_ready.set()

    def buffered(self) -> int:
        """Messages waiting for the broker."""
        return len(self._pops) + len(self._events) + len(self._inflight)

    def counters(self) -> Mapping[str, int]:
        """Counters by name (for /metrics)."""
        s = self.stats
        return {
            "published": s.published,
            "pops": s.pops,
            "dropped_stale": s.dropped_stale,
            "dropped_overflow": s.dropped_overflow,
            "connects": s.connects,
            "buffered": self.buffered(),
        }
