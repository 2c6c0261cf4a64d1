"""The console's event streams: one shared bus listener (console/streams.py), session
checks spread in time (console/security.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from centralita.console import security
from centralita.console.streams import StreamFanout
from centralita.screenpop.bus import Delivery, LocalBus


def pop(agent: str, call_id: str) -> Delivery:
    return Delivery("screenpop", f"t/{agent}", call_id.encode(), agent=agent, call_id=call_id)


def frame(item: Delivery, wanted: str) -> bytes | None:
    """A stream watching ``wanted`` gets that agent's pops; ``""`` gets every pop."""
    if item.kind != "screenpop" or (wanted and item.agent != wanted):
        return None
    return item.body


async def take(queue: asyncio.Queue[bytes], n: int) -> list[bytes]:
    return [await asyncio.wait_for(queue.get(), 2) for _ in range(n)]


@contextlib.asynccontextmanager
async def streams(fanout: StreamFanout, *wanted: str) -> AsyncIterator[list[asyncio.Queue[bytes]]]:
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(fanout.listen(w)) for w in wanted]


async def test_each_stream_gets_the_frames_of_the_agent_it_watches() -> None:
    bus = LocalBus()
    fanout = StreamFanout(bus, frame)
    async with streams(fanout, "agent1", "agent1", "agent2", "") as (ana, ana2, beto, sofia):
        bus.deliver(pop("agent1", "c1"))
        bus.deliver(Delivery("call", "t/calls/joined", b"{}"))
        bus.deliver(pop("agent2", "c2"))
        bus.deliver(pop("agent1", "c3"))
        assert await take(ana, 2) == [b"c1", b"c3"]
        assert await take(ana2, 2) == [b"c1", b"c3"]
        assert await take(beto, 1) == [b"c2"]
        assert await take(sofia, 3) == [b"c1", b"c2", b"c3"]
        await asyncio.sleep(0.01)
        assert ana.empty() and beto.empty() and sofia.empty()


async def test_a_message_is_framed_once_per_watched_agent_not_per_stream() -> None:
    calls: list[str] = []

    def counting(item: Delivery, wanted: str) -> bytes | None:
        calls.append(wanted)
        return frame(item, wanted)

    bus = LocalBus()
    fanout = StreamFanout(bus, counting)
    async with streams(fanout, *["agent1"] * 5, *["agent2"] * 5) as queues:
        bus.deliver(pop("agent1", "c1"))
        await take(queues[0], 1)
    assert sorted(calls) == ["agent1", "agent2"]


async def test_the_bus_listener_lives_while_a_stream_is_open() -> None:
    bus = LocalBus()
    fanout = StreamFanout(bus, frame)
    async with streams(fanout, "agent1", "agent2"):
        assert len(bus._listeners) == 1  # one for every stream
        assert fanout.streams == 2
    await asyncio.sleep(0)
    assert len(bus._listeners) == 0
    assert fanout.streams == 0
    async with streams(fanout, "agent1") as (again,):  # a stream after all had left
        bus.deliver(pop("agent1", "c9"))
        assert await take(again, 1) == [b"c9"]


async def test_a_slow_stream_loses_its_oldest_frames_and_slows_no_one() -> None:
    bus = LocalBus()
    fanout = StreamFanout(bus, frame, queue_size=2)
    async with streams(fanout, "agent1", "agent1") as (slow, quick):
        for n in range(3):
            bus.deliver(pop("agent1", f"c{n}"))
            assert await take(quick, 1) == [f"c{n}".encode()]
        assert await take(slow, 2) == [b"c1", b"c2"]


async def test_a_message_that_cannot_be_framed_ends_no_stream() -> None:
    def fragile(item: Delivery, wanted: str) -> bytes | None:
        if item.call_id == "bad":
            raise ValueError("broken body")
        return frame(item, wanted)

    bus = LocalBus()
    fanout = StreamFanout(bus, fragile)
    async with streams(fanout, "agent1") as (ana,):
        bus.deliver(pop("agent1", "bad"))
        bus.deliver(pop("agent1", "good"))
        assert await take(ana, 1) == [b"good"]


def test_streams_opened_together_check_their_sessions_apart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(security, "STREAM_RECHECK_S", 10.0)
    firsts = []
    for _ in range(50):  # 50 streams opened at once
        delays = security.stream_recheck_delays()
        firsts.append(next(delays))
        assert [next(delays), next(delays)] == [10.0, 10.0]
    assert all(5.0 <= d <= 10.0 for d in firsts)  # a revoked session still ends within 10 s
    assert len(set(firsts)) == 50  # not in step
