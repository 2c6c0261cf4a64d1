"""The FastAGI transport: reply parsing, hostile and broken clients over real TCP."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from centralita.ivr.agi import AgiSession, AgiTimeouts, parse_reply, quote
from centralita.ivr.agi_server import AgiServer, start_agi_server
from centralita.ivr.exceptions import AgiHangup, AgiProtocolError
from tests.ivr.conftest import StartServer
from tests.ivr.fake_asterisk import FakeAsterisk, headers

HEADER_BLOCK = "".join(f"{k}: {v}\n" for k, v in headers().items()).encode() + b"\n"


def test_parse_reply_forms() -> None:
    plain = parse_reply("200 result=1")
    assert (plain.code, plain.result, plain.data, plain.timed_out) == (200, "1", "", False)
    timeout = parse_reply("200 result=123 (timeout)")
    assert (timeout.result, timeout.timed_out) == ("123", True)
    empty = parse_reply("200 result= (timeout)")
    assert (empty.result, empty.timed_out) == ("", True)
    stream = parse_reply("200 result=0 endpos=24000")
    assert stream.extra == {"endpos": "24000"}
    dead = parse_reply("511 Command Not Permitted on a dead channel or intercept routine")
    assert (dead.code, dead.ok) == (511, False)
    usage = parse_reply(
        "520-Invalid command syntax.  Proper usage follows:",
        ("Usage: GET DATA <file to be streamed>", "520 End of proper usage."),
    )
    assert usage.code == 520
    assert "GET DATA" in usage.text
    with pytest.raises(AgiProtocolError):
        parse_reply("HELLO")
    with pytest.raises(AgiProtocolError):
        parse_reply("200 nothing")


def test_quote_escapes_and_refuses_line_breaks() -> None:
    assert quote('a "b" \\c') == '"a \\"b\\" \\\\c"'
    with pytest.raises(AgiProtocolError):
        quote("a\nHANGUP")


async def _raw(port: int, payload: bytes, *, close: bool = True) -> bytes:
    """Send `payload`; optionally close at once; return what the server sent until EOF."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    if close:
        writer.write_eof()
    async with asyncio.timeout(10):
        data = await reader.read()
    writer.close()
    await writer.wait_closed()
    return data


async def test_client_closing_at_once_and_half_header(start_server: StartServer) -> None:
    server = await start_server()
    with capture_logs() as logs:
        for payload in (b"", b"agi_network: yes\nagi_netw", b"agi_network: yes\n"):
            assert await _raw(server.port, payload) == b""
        await server.wait_idle(5)
        served = await FakeAsterisk(server.port, digits=["1", "71234567"]).run()
    assert served.event["result"] == "ok"
    aborted = [e for e in logs if e["event"] == "agi_session_aborted"]
    assert len(aborted) == 3
    assert {e["stage"] for e in aborted} == {"header"}


async def test_garbage_and_overlong_lines_are_refused(start_server: StartServer) -> None:
    server = await start_server()
    assert await _raw(server.port, b"GET / HTTP/1.1\r\n\r\n") == b""
    assert await _raw(server.port, b"agi_x: " + b"9" * 20000 + b"\n\n") == b""
    await server.wait_idle(5)


async def test_stalled_half_header_does_not_block_others(start_server: StartServer) -> None:
    server = await start_server(timeouts=AgiTimeouts(header_s=1.0, reply_s=1.0))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"agi_network: yes\nagi_network_script: ivr?serv")
    await writer.drain()
    # meanwhile a whole call is served
    served = await FakeAsterisk(server.port, digits=["3", "5551234"]).run()
    assert served.event["customer"] == "200999"
    assert server.active_sessions == 1  # the stalled one
    async with asyncio.timeout(10):
        assert await reader.read() == b""  # closed by the header deadline, no command sent
    writer.close()
    await writer.wait_closed()
    await server.wait_idle(5)


async def test_slow_client_times_out_others_are_served(start_server: StartServer) -> None:
    server = await start_server(timeouts=AgiTimeouts(header_s=1.0, reply_s=0.5))
    # 5th command is ANSWER: the channel takes 1.5 s to reply, over the 0.5 s deadline
    slow = asyncio.create_task(FakeAsterisk(server.port, delay_at={5: 1.5}).run())
    await asyncio.sleep(0.2)
    served = await FakeAsterisk(server.port, digits=["1", "4412345"]).run()
    assert served.event["result"] == "ok"
    transcript = await slow
    assert transcript.closed_by_server
    assert transcript.user_events == []
    assert transcript.queue == "q101"  # set before the stall: the dialplan still queues
    await server.wait_idle(5)


async def test_slow_client_within_deadline_completes(start_server: StartServer) -> None:
    server = await start_server(timeouts=AgiTimeouts(header_s=1.0, reply_s=0.5))
    delays = dict.fromkeys(range(1, 15, 3), 0.3)  # under the 0.5 s deadline
    transcript = await FakeAsterisk(server.port, digits=["2", "100234"], delay_at=delays).run()
    assert transcript.event["result"] == "ok"


async def _serve_raw(handler) -> AgiServer:
    return await start_agi_server(
        handler, "127.0.0.1", 0, timeouts=AgiTimeouts(header_s=1.0, reply_s=1.0)
    )


async def _client(port: int, replies: list[bytes]) -> list[str]:
    """A channel that answers the n-th command with replies[n] (raw bytes, may hold HANGUP)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(HEADER_BLOCK)
    commands: list[str] = []
    async with asyncio.timeout(10):
        while line := await reader.readline():
            commands.append(line.decode().strip())
            writer.write(replies[len(commands) - 1])
            await writer.drain()
    writer.close()
    await writer.wait_closed()
    return commands


async def test_unsolicited_hangup_never_desynchronises_replies() -> None:
    seen: list[object] = []

    async def handler(session: AgiSession) -> None:
        seen.append((await session.command("VERBOSE one")).result)
        try:
            await session.command("VERBOSE two")
        except AgiHangup as exc:
            seen.append(exc)
        seen.append(session.hung_up)

    server = await _serve_raw(handler)
    try:
        # reply to 1, then an unsolicited HANGUP before the (real) reply to 2
        commands = await _client(server.port, [b"200 result=1\n", b"HANGUP\n200 result=7\n"])
        await server.wait_idle(5)
    finally:
        await server.close()
    assert commands == ["VERBOSE one", "VERBOSE two"]
    assert seen[0] == "1"
    assert isinstance(seen[1], AgiHangup)
    assert seen[2] is True


async def test_hangup_between_commands_then_dead_channel_reply() -> None:
    replies: list[str] = []

    async def handler(session: AgiSession) -> None:
        replies.append((await session.command("SET VARIABLE A 1")).result)
        await session.command("SET VARIABLE B 2")
        replies.append("not reached")

    server = await _serve_raw(handler)
    try:
        with capture_logs() as logs:
            commands = await _client(
                server.port,
                [b"200 result=1\nHANGUP\n", b"511 Command Not Permitted on a dead channel\n"],
            )
            await server.wait_idle(5)
    finally:
        await server.close()
    assert commands == ["SET VARIABLE A 1", "SET VARIABLE B 2"]
    assert replies == ["1"]
    assert any(e["event"] == "agi_session_hangup" for e in logs)


async def test_handler_crash_is_contained() -> None:
    async def handler(session: AgiSession) -> None:
        raise ZeroDivisionError

    server = await _serve_raw(handler)
    try:
        with capture_logs() as logs:
            assert await _client(server.port, []) == []
            await server.wait_idle(5)
    finally:
        await server.close()
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["agi_session_crashed"]


async def test_sessions_over_the_limit_are_closed_at_once(start_server: StartServer) -> None:
    server = await start_server(max_sessions=1, timeouts=AgiTimeouts(header_s=2.0))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    await asyncio.sleep(0.1)
    transcript = await FakeAsterisk(server.port).run()
    assert transcript.commands == []
    assert transcript.closed_by_server
    writer.close()
    await writer.wait_closed()
    del reader
    await server.wait_idle(5)


async def test_graceful_shutdown_finishes_or_cancels_sessions() -> None:
    started = asyncio.Event()

    async def handler(session: AgiSession) -> None:
        started.set()
        await session.command("VERBOSE waiting", timeout_s=60)

    server = await start_agi_server(handler, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(HEADER_BLOCK)
    await writer.drain()
    await started.wait()
    with capture_logs() as logs:
        await server.close(grace_s=0.2)
    assert server.active_sessions == 0
    assert any(e["event"] == "agi_server_stopped" and e["cancelled_sessions"] == 1 for e in logs)
    async with asyncio.timeout(5):
        data = await reader.read()
    assert data == b"VERBOSE waiting\n"  # the command went out; then a clean close
    writer.close()
    await writer.wait_closed()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", server.port)


async def test_graceful_shutdown_lets_a_running_session_finish() -> None:
    started = asyncio.Event()

    async def handler(session: AgiSession) -> None:
        started.set()
        await asyncio.sleep(0.2)
        await session.set_variable("CC_QUEUE", "q101")

    server = await start_agi_server(handler, "127.0.0.1", 0)
    client = asyncio.create_task(_client(server.port, [b"200 result=1\n"]))
    await started.wait()
    with capture_logs() as logs:
        await server.close(grace_s=5)
    assert await client == ['SET VARIABLE CC_QUEUE "q101"']
    assert any(e["event"] == "agi_server_stopped" and e["cancelled_sessions"] == 0 for e in logs)
