"""A minimal AMI test client over real TCP (the daemon's side of the wire)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from typing import ClassVar

from centralita.ami_listener.protocol import AmiMessage, AmiParser, Banner, encode_action


class AmiTestClient:
    opened: ClassVar[list[AmiTestClient]] = []  # closed by the autouse fixture (conftest)

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        AmiTestClient.opened.append(self)
        self.reader = reader
        self.writer = writer
        self.parser = AmiParser(max_frame_bytes=1 << 24)
        self.banner = ""
        self.inbox: list[AmiMessage] = []
        self.eof = False

    @classmethod
    async def open(cls, port: int, rcvbuf: int = 0) -> AmiTestClient:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        except OSError:
            sock.close()
            raise
        reader, writer = await asyncio.open_connection(sock=sock)
        return cls(reader, writer)

    @classmethod
    async def login(
        cls,
        port: int,
        secret: str,
        events: str = "on",
        username: str = "centralita",
        rcvbuf: int = 0,
    ) -> tuple[AmiTestClient, AmiMessage]:
        client = await cls.open(port, rcvbuf)
        await client.send(
            [("Action", "Login"), ("ActionID", "login-1"), ("Username", username),
             ("Secret", secret), ("Events", events)]
        )  # fmt: skip
        reply = await client.wait_for(lambda m: m.action_id == "login-1")
        return client, reply

    async def send(self, fields: list[tuple[str, str]]) -> None:
        self.writer.write(encode_action(fields))
        await self.writer.drain()

    async def _read_some(self, limit_s: float) -> None:
        self._take(await asyncio.wait_for(self.reader.read(1 << 16), limit_s))

    def _take(self, data: bytes) -> None:
        if not data:
            self.eof = True
            return
        for item in self.parser.feed(data):
            if isinstance(item, Banner):
                self.banner = item.version
            elif isinstance(item, AmiMessage):
                self.inbox.append(item)
            else:
                raise AssertionError(f"malformed frame: {item!r}")

    async def wait_for(
        self, pred: Callable[[AmiMessage], bool], limit_s: float = 10.0
    ) -> AmiMessage:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        seen = 0
        while True:
            for msg in self.inbox[seen:]:
                if pred(msg):
                    return msg
            seen = len(self.inbox)
            if self.eof:
                raise EOFError("connection closed")
            await self._read_some(max(0.01, deadline - loop.time()))

    async def read_until_eof(self, limit_s: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        while not self.eof:
            await self._read_some(max(0.01, deadline - loop.time()))

    async def drain_for(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            loop = asyncio.get_running_loop()
            deadline = loop.time() + seconds
            while not self.eof and loop.time() < deadline:
                await self._read_some(max(0.01, deadline - loop.time()))

    async def pump(self) -> None:
        """Read everything until EOF (run it as a task while the simulator runs; cancel it
        to stop). No wait_for here: on Python 3.11 a cancel that lands as the read
        completes can be swallowed by wait_for, and the pump would then read forever."""
        while not self.eof:
            self._take(await self.reader.read(1 << 16))

    def events(self, name: str | None = None) -> list[AmiMessage]:
        return [m for m in self.inbox if m.is_event and (name is None or m.name == name)]

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()
