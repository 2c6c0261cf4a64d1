"""The AMI client: dead-peer detection, reconnect with backoff, login refusal, no secret in logs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from structlog.testing import capture_logs

from centralita.ami_listener.client import AmiClient, ReadItem
from centralita.ami_listener.protocol import AmiMessage, AmiParser, encode_action

SECRET = "t0p-s3cret-value"


class SilentPbx:
    """Answers Login, then never answers anything again (a hung Asterisk)."""

    def __init__(self, accept_login: bool = True) -> None:
        self.accept_login = accept_login
        self.connections = 0
        self.actions: list[str] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.login_events = ""

    async def start(self) -> int:
        self.server = await asyncio.start_server(self.client, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        writer.write(b"Asterisk Call Manager/5.0.5\r\n")
        parser = AmiParser()
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(4096):
                for item in parser.feed(data):
                    if not isinstance(item, AmiMessage):
                        continue
                    action = item.get("Action")
                    self.actions.append(action)
                    if action == "Login":
                        self.login_events = item.get("Events")
                        ok = self.accept_login and item.get("Secret") == SECRET
                        writer.write(
                            encode_action(
                                [
                                    ("Response", "Success" if ok else "Error"),
                                    ("ActionID", item.get("ActionID")),
                                    (
                                        "Message",
                                        "Authentication accepted"
                                        if ok
                                        else "Authentication failed",
                                    ),
                                ]
                            )
                        )
        writer.close()

    async def close(self) -> None:
        self.server.close()
        for writer in self.writers:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        await self.server.wait_closed()


async def wait_until(cond: Callable[[], bool], timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not cond():
            await asyncio.sleep(0.01)


def make_client(port: int, received: list[object]) -> AmiClient:
    def on_message(item: ReadItem, _at: float) -> None:
        received.append(item)

    return AmiClient(
        host="127.0.0.1",
        port=port,
        username="centralita",
        secret=SECRET,
        on_message=on_message,
        ping_interval_s=0.05,
        ping_timeout_s=0.1,
        backoff_initial_s=0.01,
        backoff_max_s=0.05,
    )


async def test_c_dead_peer_is_detected_and_the_client_reconnects() -> None:
    pbx = SilentPbx()
    port = await pbx.start()
    client = make_client(port, [])
    with capture_logs() as logs:
        await client.start()
        await wait_until(lambda: client.stats.ping_timeouts >= 1 and client.stats.logins >= 2)
        await client.stop()
    await pbx.close()
    assert client.stats.logins >= 2
    assert "QueueStatus" in pbx.actions  # resync asked after every login
    assert any(entry["event"] == "ami_ping_timed_out" for entry in logs)
    assert SECRET not in repr(logs)


async def test_login_refused_retries_with_backoff_and_never_logs_the_secret() -> None:
    pbx = SilentPbx(accept_login=False)
    port = await pbx.start()
    client = make_client(port, [])
    with capture_logs() as logs:
        await client.start()
        await wait_until(lambda: client.stats.login_failures >= 3)
        await client.stop()
    await pbx.close()
    errors = [e for e in logs if e["log_level"] == "error"]
    # One error on the healthy -> failing transition, then only debug lines per retry.
    assert len(errors) == 1, errors
    assert errors[0]["event"] == "ami_login_failed"
    assert SECRET not in repr(logs)


async def test_unreachable_pbx_backs_off_until_it_comes_up() -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = int(probe.sockets[0].getsockname()[1])
    probe.close()
    await probe.wait_closed()
    received: list[object] = []
    client = make_client(port, received)
    with capture_logs() as logs:
        await client.start()
        await asyncio.sleep(0.2)
        assert client.stats.logins == 0
        pbx = SilentPbx()
        pbx.server = await asyncio.start_server(pbx.client, "127.0.0.1", port)
        await wait_until(lambda: client.stats.logins >= 1)
        await client.stop()
    await pbx.close()
    failures = [e for e in logs if e["event"] == "ami_connect_failed"]
    assert failures and failures[0]["log_level"] == "error"
    assert all(e["log_level"] == "debug" for e in failures[1:])


async def test_login_asks_only_for_the_needed_event_classes() -> None:
    pbx = SilentPbx()
    port = await pbx.start()
    client = make_client(port, [])
    await client.start()
    await wait_until(lambda: client.stats.logins >= 1)
    await client.stop()
    await pbx.close()
    assert pbx.login_events == "call,agent,user,dialplan"
