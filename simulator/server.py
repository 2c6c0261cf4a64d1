"""The AMI TCP server of the simulator: banner, Login, event filter, actions, broadcast.

Each client has a bounded output buffer and its own writer task: a client that stops
reading never blocks the engine. When its buffer overflows, or one write does not drain
within ``write_timeout_s`` (Asterisk's ``writetimeout``), the client is dropped, as
Asterisk drops a slow manager session.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Coroutine
from typing import Any, Protocol

import structlog

from ami_listener.protocol import encode_action
from simulator.dialect import Headers
from simulator.exceptions import AmiServerError
from simulator.model import Engine
from simulator.status import queue_status, queue_summary

log = structlog.get_logger(__name__)

ALL_CLASSES = None


class Controller(Protocol):
    """What the server needs from whoever runs the engine."""

    engine: Engine

    def sync(self) -> None:
        """Bring the engine's clock to the current virtual time and flush its events."""

    def flush(self) -> None:
        """Broadcast whatever the engine emitted (after an action)."""


def parse_event_mask(value: str) -> frozenset[str] | None:
    """``on``/``yes``/``all`` → every class (None); ``off``/``no`` → none; else a list."""
    v = value.strip().lower()
    if v in ("", "on", "yes", "all", "true", "1"):
        return ALL_CLASSES
    if v in ("off", "no", "false", "0"):
        return frozenset()
    return frozenset(part.strip() for part in v.split(",") if part.strip())


def event_class(event: Headers) -> str:
    """The read class of an event, from its ``Privilege`` header (``agent,all`` → agent)."""
    for key, value in event[:3]:
        if key == "Privilege":
            return value.split(",", 1)[0]
    return ""


class _Client:
    def __init__(
        self, server: AmiServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.mask: frozenset[str] | None = frozenset()
        self.logged_in = False
        self.buffer: deque[bytes] = deque()
        self.buffered = 0
        self.wake = asyncio.Event()
        self.closed = False
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)

    @property
    def backlog(self) -> int:
        transport = self.writer.transport
        return self.buffered + (0 if transport.is_closing() else transport.get_write_buffer_size())

    def wants(self, klass: str) -> bool:
        return self.logged_in and (self.mask is None or klass in self.mask)

    def send(self, data: bytes) -> None:
        if self.closed:
            return
        if self.buffered + len(data) > self.server.max_buffer_bytes:
            self.close("buffer_full")
            return
        self.buffer.append(data)
        self.buffered += len(data)
        self.wake.set()

    def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.wake.set()
        self.writer.close()
        self.server.clients.discard(self)
        log.info("ami_client_dropped", peer=self.peer, reason=reason)

    async def write_loop(self) -> None:
        while not self.closed:
            await self.wake.wait()
            self.wake.clear()
            while self.buffer and not self.closed:
                chunk = b"".join(self.buffer)
                self.buffer.clear()
                self.buffered = 0
                self.writer.write(chunk)
                try:
                    await asyncio.wait_for(self.writer.drain(), self.server.write_timeout_s)
                except TimeoutError:
                    self.close("write_timeout")
                except (ConnectionError, OSError):
                    self.close("connection_lost")


class AmiServer:
    """Serves AMI for one :class:`Controller` (the running simulator)."""

    def __init__(
        self,
        controller: Controller,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "centralita",
        secret: str = "",
        write_timeout_s: float = 5.0,
        max_buffer_bytes: int = 16 << 20,
    ) -> None:
        self.controller = controller
        self.host = host
        self.requested_port = port
        self.username = username
        self.secret = secret
        self.write_timeout_s = write_timeout_s
        self.max_buffer_bytes = max_buffer_bytes
        self.clients: set[_Client] = set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The bound TCP port."""
        if self._server is None:
            raise AmiServerError("the AMI server is not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Bind and start accepting clients."""
        try:
            self._server = await asyncio.start_server(self._handle, self.host, self.requested_port)
        except OSError as exc:
            raise AmiServerError(f"cannot bind {self.host}:{self.requested_port}") from exc
        log.info("ami_server_started", host=self.host, port=self.port)

    async def close(self) -> None:
        """Stop accepting and drop every client."""
        if self._server is not None:
            self._server.close()
        self.drop_all("server_closed")
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    def drop_all(self, reason: str = "dropped") -> None:
        """Close every client connection now (fault hook)."""
        for client in list(self.clients):
            client.close(reason)

    @property
    def max_backlog(self) -> int:
        """The largest number of bytes waiting for one client."""
        return max((c.backlog for c in self.clients if c.logged_in), default=0)

    def broadcast(self, events: list[Headers]) -> None:
        """Send events to every logged-in client whose filter takes their class."""
        if not events or not self.clients:
            return
        clients = [c for c in self.clients if c.logged_in and c.mask != frozenset()]
        if not clients:
            return
        per_client: dict[_Client, list[bytes]] = {c: [] for c in clients}
        for event in events:
            klass = event_class(event)
            data = encode_action(event)
            for c in clients:
                if c.mask is None or klass in c.mask:
                    per_client[c].append(data)
        for c, chunks in per_client.items():
            if chunks:
                c.send(b"".join(chunks))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = _Client(self, reader, writer)
        self.clients.add(client)
        self._spawn(client.write_loop())
        banner = f"Asterisk Call Manager/{self.controller.engine.ami.version}\r\n"
        client.send(banner.encode())
        buf = b""
        try:
            while not client.closed:
                data = await reader.read(65536)
                if not data:
                    break
                buf += data.replace(b"\r\n", b"\n")
                while b"\n\n" in buf:
                    frame, buf = buf.split(b"\n\n", 1)
                    action = _parse_action(frame)
                    if action:
                        self._action(client, action)
        except (ConnectionError, OSError):
            pass
        finally:
            client.close("client_closed")

    # ------------------------------------------------------------------ actions
    def _reply(self, client: _Client, fields: Headers) -> None:
        client.send(encode_action(fields))

    def _action(self, client: _Client, a: dict[str, str]) -> None:
        name = a.get("action", "").lower()
        aid = a.get("actionid", "")
        ok: Headers = [("Response", "Success"), ("ActionID", aid)]
        err: Headers = [("Response", "Error"), ("ActionID", aid)]
        if name == "login":
            self._login(client, a, aid)
            return
        if name == "logoff":
            self._reply(client, [("Response", "Goodbye"), ("ActionID", aid),
                                 ("Message", "Thanks for all the fish.")])  # fmt: skip
            client.logged_in = False
            self._spawn(self._close_after_flush(client, "logoff"))
            return
        if not client.logged_in:
            self._reply(client, [*err, ("Message", "Permission denied")])
            return
        ctl = self.controller
        ctl.sync()
        engine = ctl.engine
        if name == "ping":
            self._reply(client, [*ok, ("Ping", "Pong"), ("Timestamp", f"{engine.now:.6f}")])
        elif name == "events":
            client.mask = parse_event_mask(a.get("eventmask", "on"))
            self._reply(client, [*ok, ("Events", "Off" if client.mask == frozenset() else "On")])
        elif name == "queuestatus":
            for fields in queue_status(engine, aid, a.get("queue", "")):
                self._reply(client, fields)
        elif name == "queuesummary":
            for fields in queue_summary(engine, aid, a.get("queue", "")):
                self._reply(client, fields)
        elif name == "queueadd":
            done = engine.add_member(
                a.get("queue", ""),
                a.get("interface", ""),
                a.get("membername", ""),
                int(a.get("penalty", "0") or 0),
                _truthy(a.get("paused", "")),
            )
            msg = "Added interface to queue" if done else "Unable to add interface: Already there"
            self._reply(client, [*(ok if done else err), ("Message", msg)])
        elif name == "queueremove":
            done = engine.remove_member(a.get("queue", ""), a.get("interface", ""))
            msg = (
                "Removed interface from queue" if done else "Unable to remove interface: Not there"
            )
            self._reply(client, [*(ok if done else err), ("Message", msg)])
        elif name == "queuepause":
            paused = _truthy(a.get("paused", "true"))
            done = engine.pause_member(
                a.get("interface", ""), paused, a.get("queue", ""), a.get("reason", "")
            )
            word = "paused" if paused else "unpaused"
            msg = f"Interface {word} successfully" if done else "Interface not found"
            self._reply(client, [*(ok if done else err), ("Message", msg)])
        elif name == "originate":
            self._originate(client, a, aid)
        else:
            self._reply(client, [*err, ("Message", "Invalid/unknown command")])
        ctl.flush()

    def _login(self, client: _Client, a: dict[str, str], aid: str) -> None:
        if a.get("username") != self.username or a.get("secret", "") != self.secret:
            self._reply(client, [("Response", "Error"), ("ActionID", aid),
                                 ("Message", "Authentication failed")])  # fmt: skip
            log.info("ami_login_failed", peer=client.peer, username=a.get("username", ""))
            self._spawn(self._close_after_flush(client, "login_failed"))
            return
        client.mask = parse_event_mask(a.get("events", "on"))
        client.logged_in = True
        self._reply(client, [("Response", "Success"), ("ActionID", aid),
                             ("Message", "Authentication accepted")])  # fmt: skip
        if client.wants("system"):
            client.send(encode_action(self.controller.engine.fully_booted()))
        log.info("ami_client_logged_in", peer=client.peer, events=a.get("events", "on"))

    def _originate(self, client: _Client, a: dict[str, str], aid: str) -> None:
        channel, exten = a.get("channel", ""), a.get("exten", "")
        if not channel or not exten:
            self._reply(client, [("Response", "Error"), ("ActionID", aid),
                                 ("Message", "Channel not specified")])  # fmt: skip
            return
        timeout_ms = int(a.get("timeout", "30000") or 30000)
        self.controller.engine.originate(
            aid,
            channel=channel,
            context=a.get("context", ""),
            exten=exten,
            caller_id=a.get("callerid", ""),
            timeout_s=timeout_ms / 1000.0,
        )
        self._reply(client, [("Response", "Success"), ("ActionID", aid),
                             ("Message", "Originate successfully queued")])  # fmt: skip

    async def _close_after_flush(self, client: _Client, reason: str) -> None:
        for _ in range(100):
            if not client.buffer or client.closed:
                break
            await asyncio.sleep(0.01)
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            await asyncio.wait_for(client.writer.drain(), 1.0)
        client.close(reason)


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def _parse_action(frame: bytes) -> dict[str, str]:
    """An action's headers, keys lower-cased (AMI action headers are case-insensitive)."""
    out: dict[str, str] = {}
    for line in frame.decode("utf-8", "replace").split("\n"):
        key, sep, value = line.partition(":")
        if sep and key.strip():
            out.setdefault(key.strip().lower(), value.strip())
    return out
