"""A fake AMI server that replays a recorded capture over real TCP.

It speaks enough AMI for the daemon (banner, Login, Ping, QueueStatus, Logoff) and plays
the capture's events in order, across reconnections: a dropped connection resumes where
it stopped, so the records must come out the same. For tests it can cut the stream into
random-sized writes, drop the connection mid-frame at given event indices, and insert a
frame of garbage. ``QueueStatus`` is answered from the state of the events sent so far
(callers waiting, members), as a real PBX would.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Iterable
from dataclasses import dataclass, field

import structlog

from centralita.simulator.wire import ActionReader, encode, parse_event

log = structlog.get_logger(__name__)

GARBAGE = b"\x00\xff\xfe garbage \xc3(\r\nno colon here\r\n\r\n"


@dataclass
class _Waiting:
    queue: str
    channel: str
    uniqueid: str
    linkedid: str
    num: str
    name: str
    joined: float


@dataclass
class ReplayState:
    """What a real PBX would know at the current point of the capture."""

    waiting: dict[str, _Waiting] = field(default_factory=dict)
    members: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    last_ts: float = 0.0

    def observe(self, name: str, h: dict[str, str]) -> None:
        """Update from one event sent (its name and headers)."""
        ts = h.get("Timestamp")
        if ts:
            with contextlib.suppress(ValueError):
                self.last_ts = float(ts)
        if name in ("QueueCallerJoin", "Join"):
            self.waiting[h.get("Uniqueid", "")] = _Waiting(
                queue=h.get("Queue", ""),
                channel=h.get("Channel", ""),
                uniqueid=h.get("Uniqueid", ""),
                linkedid=h.get("Linkedid", ""),
                num=h.get("CallerIDNum", ""),
                name=h.get("CallerIDName", ""),
                joined=self.last_ts,
            )
        elif name in ("QueueCallerLeave", "Leave"):
            self.waiting.pop(h.get("Uniqueid", ""), None)
        elif name.startswith("QueueMember") and name != "QueueMemberRemoved":
            iface = h.get("Interface") or h.get("Location", "")
            member = self.members.setdefault((h.get("Queue", ""), iface), {})
            member.update(h)
        elif name == "QueueMemberRemoved":
            iface = h.get("Interface") or h.get("Location", "")
            self.members.pop((h.get("Queue", ""), iface), None)

    def queue_status(self, action_id: str, *, asterisk11: bool) -> list[bytes]:
        """The QueueStatus answer (response + list events), as the version sends it."""
        start = [("Response", "Success"), ("ActionID", action_id)]
        if not asterisk11:
            start.append(("EventList", "start"))
        start.append(("Message", "Queue status will follow"))
        out = [encode(start)]
        queues = sorted({w.queue for w in self.waiting.values()} | {q for q, _ in self.members})
        items = 0
        for queue in queues:
            waiting = sorted(
                (w for w in self.waiting.values() if w.queue == queue), key=lambda w: w.joined
            )
            out.append(
                encode(
                    [
                        ("Event", "QueueParams"),
                        ("Queue", queue),
                        ("Calls", str(len(waiting))),
                        ("ActionID", action_id),
                    ]
                )
            )
            items += 1
            for (q, iface), member in sorted(self.members.items()):
                if q != queue:
                    continue
                in_call = member.get("InCall", "0")
                fields = [
                    ("Event", "QueueMember"),
                    ("Queue", queue),
                    ("Name", member.get("MemberName", "")),
                    ("Location", iface),
                    ("StateInterface", member.get("StateInterface", iface)),
                    ("Status", member.get("Status", "1")),
                    ("Paused", member.get("Paused", "0")),
                    ("IsInCall" if asterisk11 else "InCall", in_call),
                    ("ActionID", action_id),
                ]
                out.append(encode(fields))
                items += 1
            for pos, w in enumerate(waiting, start=1):
                fields = [
                    ("Event", "QueueEntry"),
                    ("Queue", queue),
                    ("Position", str(pos)),
                    ("Channel", w.channel),
                    ("Uniqueid", w.uniqueid),
                ]
                if w.linkedid:
                    fields.append(("Linkedid", w.linkedid))
                fields += [
                    ("CallerIDNum", w.num),
                    ("CallerIDName", w.name),
                    ("Wait", str(int(self.last_ts - w.joined))),
                    ("ActionID", action_id),
                ]
                out.append(encode(fields))
                items += 1
        done = [("Event", "QueueStatusComplete"), ("ActionID", action_id)]
        if not asterisk11:
            done += [("EventList", "Complete"), ("ListItems", str(items))]
        out.append(encode(done))
        return out


def split_capture(data: bytes) -> tuple[str, list[bytes]]:
    """The banner version and the raw event frames (with their blank line) of a capture."""
    version = "13.0.0"
    if data.startswith(b"Asterisk Call Manager/"):
        eol = data.index(b"\n")
        version = data[len(b"Asterisk Call Manager/") : eol].decode().strip()
        data = data[eol + 1 :]
    frames = []
    for raw in data.split(b"\r\n\r\n"):
        if raw.startswith(b"Event: "):
            frames.append(raw + b"\r\n\r\n")
    return version, frames


class CaptureServer:
    """Serves one capture's events to AMI clients, resuming across connections."""

    def __init__(
        self,
        data: bytes,
        *,
        username: str = "centralita",
        secret: str = "secret",  # noqa: S107 - a test fixture's login, not a credential
        seed: int = 1,
        max_write: int = 0,
        drop_after: Iterable[int] = (),
        garbage_at: Iterable[int] = (),
        speed: float | None = None,
    ) -> None:
        self.version, self.frames = split_capture(data)
        self.asterisk11 = self.version.startswith("1.")
        self.username = username
        self.secret = secret
        self.rng = random.Random(seed)
        self.max_write = max_write
        self.drop_after = sorted(set(drop_after))
        self.garbage_at = set(garbage_at)
        self.speed = speed
        self.position = 0
        self.state = ReplayState()
        self.logins = 0
        self.connections = 0
        self.finished = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._streaming: asyncio.Lock = asyncio.Lock()
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen; returns the port."""
        self._server = await asyncio.start_server(self._client, host, port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        """Stop listening and drop clients."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _write(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        if self.max_write <= 0:
            writer.write(data)
        else:
            pos = 0
            while pos < len(data):
                size = self.rng.randint(1, self.max_write)
                writer.write(data[pos : pos + size])
                pos += size
        await writer.drain()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        actions = ActionReader()
        stream_task: asyncio.Task[None] | None = None
        try:
            writer.write(f"Asterisk Call Manager/{self.version}\r\n".encode())
            await writer.drain()
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                for item in actions.feed(data):
                    action = item.get("action", "").lower()
                    aid = item.get("actionid", "")
                    if action == "login":
                        ok = item.get("username") == self.username and (
                            item.get("secret", "") == self.secret
                        )
                        msg = "Authentication accepted" if ok else "Authentication failed"
                        resp = "Success" if ok else "Error"
                        writer.write(
                            encode([("Response", resp), ("ActionID", aid), ("Message", msg)])
                        )
                        await writer.drain()
                        if ok:
                            self.logins += 1
                            stream_task = asyncio.ensure_future(self._stream(writer))
                    elif action == "ping":
                        fields = [("Response", "Success"), ("ActionID", aid), ("Ping", "Pong")]
                        fields.append(("Timestamp", f"{self.state.last_ts:.6f}"))
                        writer.write(encode(fields))
                    elif action == "queuestatus":
                        async with self._streaming:
                            for frame in self.state.queue_status(aid, asterisk11=self.asterisk11):
                                writer.write(frame)
                            await writer.drain()
                    elif action == "logoff":
                        writer.write(
                            encode([("Response", "Goodbye"), ("ActionID", aid), ("Message", "Bye")])
                        )
                        await writer.drain()
                        return
                    else:
                        writer.write(
                            encode(
                                [
                                    ("Response", "Error"),
                                    ("ActionID", aid),
                                    ("Message", "Invalid/unknown command"),
                                ]
                            )
                        )
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if stream_task is not None:
                stream_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await stream_task
            writer.close()

    async def _stream(self, writer: asyncio.StreamWriter) -> None:
        """Play events from the shared position; drop the connection at drop points."""
        prev_ts: float | None = None
        while self.position < len(self.frames):
            async with self._streaming:
                index = self.position
                frame = self.frames[index]
                if self.drop_after and index >= self.drop_after[0]:
                    self.drop_after.pop(0)
                    # Cut mid-frame, then drop: the client must discard the partial frame.
                    writer.write(frame[: max(1, len(frame) // 2)])
                    with contextlib.suppress(Exception):
                        await writer.drain()
                    writer.transport.abort()
                    return
                if index in self.garbage_at:
                    self.garbage_at.discard(index)
                    await self._write(writer, GARBAGE)
                name, headers = parse_event(frame[:-4])
                await self._write(writer, frame)
                self.state.observe(name, headers)
                self.position = index + 1
            if self.speed is not None:
                ts = self.state.last_ts
                if prev_ts is not None and ts > prev_ts:
                    await asyncio.sleep(min(5.0, (ts - prev_ts) / self.speed))
                prev_ts = ts
            elif index % 200 == 0:
                await asyncio.sleep(0)
        self.finished.set()
