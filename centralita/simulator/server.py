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

from centralita.simulator.dialect import Headers
from centralita.simulator.exceptions import AmiServerError
from centralita.simulator.model import Engine
from centralita.simulator.status import channel_status, queue_status, queue_summary
from centralita.simulator.wire import ActionReader, encode

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
        self.written = asyncio.Event()
        self.closed = False
        self.finishing = False
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)

    @property
    def backlog(self) -> int:
        transport = self.writer.transport
        return self.buffered + (0 if transport.is_closing() else transport.get_write_buffer_size())

    @property
    def gone(self) -> bool:
        """Closed, or closing (after Logoff or at the server's close)."""
        return self.closed or self.finishing

    def wants(self, klass: str) -> bool:
        return self.logged_in and (self.mask is None or klass in self.mask)

    def send(self, data: bytes) -> None:
        if self.closed or self.finishing:
            return
        if self.buffered + len(data) > self.server.max_buffer_bytes:
            self.close("buffer_full")
            return
        self.buffer.append(data)
        self.buffered += len(data)
        self.wake.set()

    def close(self, reason: str, *, abort: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        self.wake.set()
        if abort:
            self.writer.transport.abort()
        else:
            self.writer.close()
        self.server.clients.discard(self)
        log.info("ami_client_dropped", peer=self.peer, reason=reason)

    async def write_loop(self) -> None:
        """Write what is queued; when finishing, stop once everything is written."""
        try:
            while not self.closed:
                if not self.buffer:
                    if self.finishing:
                        # finish() set the high-water mark to 0: this drain returns once
                        # the transport has handed its last byte to the kernel (an idle
                        # loop could otherwise stop with bytes still in the transport)
                        await self.writer.drain()
                        break
                    self.wake.clear()
                    await self.wake.wait()
                    continue
                chunk = b"".join(self.buffer)
                self.buffer.clear()
                self.buffered = 0
                self.writer.write(chunk)
                await asyncio.wait_for(self.writer.drain(), self.server.write_timeout_s)
        except TimeoutError:
            self.close("write_timeout")
        except (ConnectionError, OSError):
            self.close("connection_lost")
        finally:
            self.written.set()

    def is_closed(self) -> bool:
        """Whether the connection is closed (a method: mypy would keep its narrowing)."""
        return self.closed

    async def finish(self, reason: str, timeout_s: float) -> None:
        """Write every queued byte (within ``timeout_s``), then close the connection.

        The transport's high-water mark drops to zero so that the last ``drain`` returns
        only when every byte has been handed to the kernel; the close then sends FIN
        after them. A peer that does not read in time is aborted.
        """
        if self.closed:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        self.finishing = True
        with contextlib.suppress(Exception):
            self.writer.transport.set_write_buffer_limits(high=0)
        self.wake.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.written.wait(), max(0.0, deadline - loop.time()))
        if self.is_closed():
            return
        if self.buffer or self.writer.transport.get_write_buffer_size():
            self.close(f"{reason}_unflushed", abort=True)
            return
        self.close(reason)
        with contextlib.suppress(TimeoutError, ConnectionError, OSError):
            await asyncio.wait_for(self.writer.wait_closed(), max(0.01, deadline - loop.time()))


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
        flush_timeout_s: float = 10.0,
    ) -> None:
        self.controller = controller
        self.host = host
        self.requested_port = port
        self.username = username
        self.secret = secret
        self.write_timeout_s = write_timeout_s
        self.max_buffer_bytes = max_buffer_bytes
        self.flush_timeout_s = flush_timeout_s
        self.clients: set[_Client] = set()
        self.refusing: str | None = None
        self._server: asyncio.Server | None = None
        self._port = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._held: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        """The bound TCP port (kept while logins are refused)."""
        if not self._port:
            raise AmiServerError("the AMI server is not started")
        return self._port

    async def start(self) -> None:
        """Bind and start accepting clients."""
        await self._listen(self.requested_port)
        self._port = int(self._server.sockets[0].getsockname()[1]) if self._server else 0
        log.info("ami_server_started", host=self.host, port=self.port)

    async def _listen(self, port: int) -> None:
        try:
            self._server = await asyncio.start_server(self._handle, self.host, port)
        except OSError as exc:
            raise AmiServerError(f"cannot bind {self.host}:{port}") from exc

    async def close(self, flush_timeout_s: float | None = None) -> None:
        """Stop accepting; write what every client still has queued, then close them.

        The wait is bounded (``flush_timeout_s``, default the server's): a client that
        does not read its last bytes in time is aborted.
        """
        timeout = self.flush_timeout_s if flush_timeout_s is None else flush_timeout_s
        if self._server is not None:
            self._server.close()
        self._drop_held()
        clients = list(self.clients)
        if clients:
            await asyncio.gather(*(c.finish("server_closed", timeout) for c in clients))
        self.drop_all("server_closed")
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    def drop_all(self, reason: str = "dropped", *, abort: bool = False) -> None:
        """Close every client connection now (fault hook); ``abort`` resets them (RST,
        queued bytes discarded) as a dying process does."""
        for client in list(self.clients):
            client.close(reason, abort=abort)

    # ------------------------------------------------------------------ network faults
    async def refuse(self, mode: str = "refuse") -> None:
        """Refuse new connections until :meth:`accept` (connected clients are untouched).

        ``refuse``: the port is closed, a connect fails at once (connection refused, as
        with the PBX's manager down). ``silent``: a connect succeeds but the connection
        stays mute, no banner and no answer, as through a cut network path; it is reset
        when the network comes back.
        """
        if mode not in ("refuse", "silent"):
            raise AmiServerError(f"unknown refusal mode {mode!r}")
        if self.refusing is not None:
            self.refusing = mode
            return
        self.refusing = mode
        if mode == "refuse" and self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        log.info("ami_logins_refused", mode=mode)

    async def accept(self) -> None:
        """Accept connections again, on the same port."""
        if self.refusing is None:
            return
        self.refusing = None
        self._drop_held()
        if self._server is None:
            await self._listen(self.port)
        log.info("ami_logins_accepted", port=self.port)

    def _drop_held(self) -> None:
        for writer in list(self._held):
            writer.transport.abort()
        self._held.clear()

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._held.add(writer)
        try:
            while writer in self._held and await reader.read(65536):
                pass
        except (ConnectionError, OSError):
            pass
        finally:
            self._held.discard(writer)
            writer.transport.abort()

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
            data = encode(event)
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
        if self.refusing is not None:
            await self._hold(reader, writer)
            return
        client = _Client(self, reader, writer)
        self.clients.add(client)
        self._spawn(client.write_loop())
        banner = f"Asterisk Call Manager/{self.controller.engine.ami.version}\r\n"
        client.send(banner.encode())
        actions = ActionReader()
        try:
            while not client.closed:
                data = await reader.read(65536)
                if not data:
                    break
                for action in actions.feed(data):
                    if client.gone:
                        break
                    self._action(client, action)
        except (ConnectionError, OSError):
            pass
        finally:
            if not client.finishing:
                client.close("client_closed")

    # ------------------------------------------------------------------ actions
    def _reply(self, client: _Client, fields: Headers) -> None:
        """One response or list event; like Asterisk, no ActionID header when none was
        given."""
        client.send(encode([(k, v) for k, v in fields if v or k != "ActionID"]))

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
            self._spawn(client.finish("logoff", self.flush_timeout_s))
            return
        if not client.logged_in:
            self._reply(client, [*err, ("Message", "Permission denied")])
            return
        ctl = self.controller
        ctl.sync()
        engine = ctl.engine
        if name == "ping":
            # action_ping: "Ping: Pong\r\nTimestamp: %ld.%06lu\r\n", from the PBX clock.
            self._reply(client, [*ok, ("Ping", "Pong"), ("Timestamp", epoch_usec(engine.now))])
        elif name == "events":
            client.mask = parse_event_mask(a.get("eventmask", "on"))
            self._reply(client, [*ok, ("Events", "Off" if client.mask == frozenset() else "On")])
        elif name == "queuestatus":
            for fields in queue_status(engine, aid, a.get("queue", "")):
                self._reply(client, fields)
        elif name == "status":
            for fields in channel_status(engine, aid):
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
        elif name == "redirect":
            # action_redirect's answers; Context and Exten as given (we run priority 1).
            channel = a.get("channel", "")
            if not channel:
                self._reply(client, [*err, ("Message", "Channel not specified")])
            elif engine.redirect(channel, a.get("context", ""), a.get("exten", "")):
                self._reply(client, [*ok, ("Message", "Redirect successful")])
            else:
                self._reply(client, [*err, ("Message", f"Channel does not exist: {channel}")])
        else:
            self._reply(client, [*err, ("Message", "Invalid/unknown command")])
        ctl.flush()

    def _login(self, client: _Client, a: dict[str, str], aid: str) -> None:
        if a.get("username") != self.username or a.get("secret", "") != self.secret:
            self._reply(client, [("Response", "Error"), ("ActionID", aid),
                                 ("Message", "Authentication failed")])  # fmt: skip
            log.info("ami_login_failed", peer=client.peer, username=a.get("username", ""))
            self._spawn(client.finish("login_failed", self.flush_timeout_s))
            return
        self.controller.sync()  # FullyBooted's Uptime from the PBX clock of this moment
        client.mask = parse_event_mask(a.get("events", "on"))
        client.logged_in = True
        self._reply(client, [("Response", "Success"), ("ActionID", aid),
                             ("Message", "Authentication accepted")])  # fmt: skip
        if client.wants("system"):
            client.send(encode(self.controller.engine.fully_booted()))
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


def epoch_usec(now: float) -> str:
    """Epoch seconds as Asterisk prints a timeval: ``%ld.%06lu``."""
    usec = round(now * 1_000_000)
    return f"{usec // 1_000_000}.{usec % 1_000_000:06d}"


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")
