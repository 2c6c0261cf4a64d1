"""The restart gap: results the dialer missed are read back from the stored event log.

"If a customer answers while the dialer is down, that result is lost and the attempt
becomes `unknown`" — unless the listener logged the OriginateResponse: on start the dialer
looks its calls out up in ``ami_events`` first (and an answered call's agent in the
logged AgentConnect).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.schema import ami_events
from centralita.ami_listener.service import AmiSettings, ListenerService
from centralita.ami_listener.store import create_schema as create_ingest_schema
from centralita.ami_listener.store import make_engine
from centralita.ami_listener.tracker import CallTracker
from centralita.campaigns.dialer import Dialer, DialerSettings
from centralita.campaigns.importer import import_customer_list
from centralita.campaigns.store import load_state
from centralita.simulator.runner import Simulator
from tests.campaigns.conftest import create_campaign_tables, customer_list, lp, write
from tests.campaigns.fakes import FakePbx, VirtualClock
from tests.campaigns.simharness import (
    SECRET,
    Driver,
    OriginateProbe,
    sim_config,
    start_host,
)

MONTH = "2025-03"


def raw_event(fields: list[tuple[str, str]]) -> str:
    return "\n".join(f"{k}: {v}" for k, v in fields)


async def log_event(engine: AsyncEngine, name: str, at: datetime, fields: list[tuple[str, str]]):
    raw = raw_event(
        [
            ("Event", name),
            ("Privilege", "call,all"),
            ("Timestamp", f"{at.timestamp():.6f}"),
            *fields,
        ]
    )
    uniqueid = dict(fields).get("Uniqueid")
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(ami_events).values(
                pbx_id="pbx1",
                digest=hashlib.md5(raw.encode(), usedforsecurity=False).digest(),
                event=name,
                ts_ms=round(at.timestamp() * 1000),
                received_ms=round(at.timestamp() * 1000),
                uniqueid=uniqueid,
                linkedid=uniqueid,
                queue=None,
                raw=raw,
            )
        )


async def test_results_logged_while_the_dialer_was_down_are_recorded_on_start(
    logged_engine: AsyncEngine, tmp_path: Path
) -> None:
    engine = logged_engine
    await import_customer_list(
        engine, write(tmp_path / "l.csv", customer_list(4)), month=None, now_ms=0
    )
    clock = VirtualClock(lp(2025, 2, 25, 9, 0))
    pbx = FakePbx(
        clock, ["Local/a1@agentes", "Local/a2@agentes", "Local/a3@agentes", "Local/a4@agentes"]
    )
    settings = DialerSettings()
    first = Dialer(engine, MONTH, pbx, pbx, clock=clock, settings=settings)
    pbx.dialer = first
    assert await first.step() == 4
    ids = [r.action_id for _, r in pbx.requests]
    # The dialer dies; the daemon's listener logs three results and one agent connect.
    at = clock() + timedelta(seconds=12)
    await log_event(
        engine,
        "OriginateResponse",
        at,
        [
            ("ActionID", ids[0]),
            ("Response", "Success"),
            ("Reason", "4"),
            ("Uniqueid", "100.1"),
            ("Channel", "Local/1@x-1;1"),
        ],
    )
    await log_event(
        engine,
        "OriginateResponse",
        at,
        [("ActionID", ids[1]), ("Response", "Failure"), ("Reason", "5"), ("Uniqueid", "<null>")],
    )
    await log_event(
        engine,
        "OriginateResponse",
        at,
        [
            ("ActionID", ids[2]),
            ("Response", "Success"),
            ("Reason", "4"),
            ("Uniqueid", "100.3"),
            ("Channel", "Local/3@x-1;1"),
        ],
    )
    await log_event(
        engine,
        "AgentConnect",
        at + timedelta(seconds=3),
        [
            ("Uniqueid", "100.1"),
            ("Queue", "qprepago"),
            ("Interface", "Local/a2@agentes"),
            ("HoldTime", "3"),
        ],
    )
    # Someone else's Originate and a duplicate of ours (the first one wins) are ignored.
    await log_event(
        engine,
        "OriginateResponse",
        at,
        [("ActionID", "otro-1"), ("Response", "Success"), ("Reason", "4")],
    )
    await log_event(
        engine,
        "OriginateResponse",
        at + timedelta(seconds=1),
        [("ActionID", ids[1]), ("Response", "Success"), ("Reason", "4"), ("Uniqueid", "x")],
    )
    clock.advance(seconds=20)

    restarted = Dialer(engine, MONTH, pbx, pbx, clock=clock, settings=settings)
    await restarted.recover()
    state = await load_state(engine, MONTH)
    by_action = {
        f"{restarted.action_prefix}-{a.attempt_id}": a
        for tried in state.attempts.values()
        for a in tried
    }
    assert [by_action[i].outcome for i in ids] == ["answered", "busy", "answered", "placing"]
    assert by_action[ids[0]].agent == "Local/a2@agentes"
    assert by_action[ids[0]].result_at == at
    # the answered call without an agent yet still holds its slot, found by its uniqueid
    assert set(restarted._out) == {by_action[ids[2]].attempt_id, by_action[ids[3]].attempt_id}
    assert await restarted.on_agent_connected("Local/a3@agentes", uniqueid="100.3")
    # the one without any logged result becomes unknown only after the grace period
    clock.advance(seconds=settings.ring_timeout_s + settings.result_grace_s)
    await restarted.step()
    state = await load_state(engine, MONTH)
    outcomes = Counter(a.outcome for t in state.attempts.values() for a in t)
    assert outcomes["unknown"] == 1 and outcomes["answered"] == 2


async def test_a_dialer_on_a_database_without_event_log_still_recovers(
    sqlite_engine: AsyncEngine, tmp_path: Path
) -> None:
    await import_customer_list(
        sqlite_engine, write(tmp_path / "l.csv", customer_list(2)), month=None, now_ms=0
    )
    clock = VirtualClock(lp(2025, 2, 25, 9, 0))
    pbx = FakePbx(clock, ["Local/a1@agentes", "Local/a2@agentes"])
    first = Dialer(sqlite_engine, MONTH, pbx, pbx, clock=clock)
    assert await first.step() == 2
    restarted = Dialer(sqlite_engine, MONTH, pbx, pbx, clock=clock)
    await restarted.recover()
    assert len(restarted._out) == 2


async def test_against_the_simulator_answers_during_a_dialer_outage_are_not_lost(
    sqlite_url: str, tmp_path: Path
) -> None:
    """The daemon's listener keeps logging while the campaign host is down; the virtual
    clock runs ten minutes meanwhile, so every call out gets its result in that gap."""
    engine = make_engine(sqlite_url)
    await create_ingest_schema(engine)
    await create_campaign_tables(engine)
    await import_customer_list(
        engine, write(tmp_path / "l.csv", customer_list(40)), month=None, now_ms=0
    )
    settings = DialerSettings(poll_s=3600.0, handoff_s=900.0)
    sim = Simulator(
        sim_config(lp(2025, 2, 25, 9, 0), answer_prob=0.7, busy_prob=0.2),
        seed=3,
        speed=None,
        secret=SECRET,
    )
    OriginateProbe(sim.engine)
    try:
        async with sim:
            daemon = ListenerService(
                AmiSettings(host="127.0.0.1", port=sim.port, secret=SECRET, ping_interval_s=3600),
                engine,
                CallTracker("sim"),
            )
            daemon_task = asyncio.create_task(daemon.run())
            await asyncio.wait_for(daemon.client.logged_in.wait(), 10)
            host = await start_host(sim, engine, MONTH, settings)
            driver = Driver(sim, host)
            await driver.settle()  # the first step: one call per free agent
            out = {o.action_id for o in sim.truth.originates if o.outcome == "pending"}
            assert len(out) == 4
            await host.crash()

            # Ten virtual minutes without the campaign host; the daemon logs everything.
            sim.engine.advance(sim.engine.now + 600)
            sim.flush()
            await daemon.client.send({"Action": "Ping"})
            await daemon.drain()
            assert all(o.outcome != "pending" for o in sim.truth.originates)

            host = await start_host(sim, engine, MONTH, settings)
            driver.host = host
            await driver.settle()
            truth = {o.action_id: o for o in sim.truth.originates if o.action_id in out}
            state = await load_state(engine, MONTH)
            attempts = {
                f"{host.dialer.action_prefix}-{a.attempt_id}": a
                for t in state.attempts.values()
                for a in t
            }
            names = {"answered": "answered", "busy": "busy", "no-answer": "no_answer"}
            for action_id, o in truth.items():
                assert attempts[action_id].outcome == names.get(o.outcome, "failed"), action_id
            answered = [a for a in out if truth[a].outcome == "answered"]
            assert answered  # the seed has answers in the gap
            agents = {c.uniqueid: c.agent_interface for c in sim.truth.calls}
            for action_id in answered:
                assert attempts[action_id].agent == agents[truth[action_id].uniqueid]
            await host.shutdown()
            daemon_task.cancel()
            await asyncio.gather(daemon_task, return_exceptions=True)
    finally:
        await engine.dispose()
