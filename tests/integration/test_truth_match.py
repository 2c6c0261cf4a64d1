"""A 2,000-call seeded simulator run, served over real TCP and ingested by the daemon's
listener into the database, matches the simulator's ground truth call by call (outcome,
wait within 1 s, agent), in both AMI dialects."""

from __future__ import annotations

import pytest

from centralita.simulator.config import lab_config
from centralita.simulator.runner import Simulator
from tests.integration.helpers import (
    SECRET,
    database,
    fetch_rows,
    listener_for,
    running,
    settle,
    truth_mismatches,
)


@pytest.mark.parametrize("dialect", ["12", "11"])
async def test_2000_calls_over_tcp_match_truth(dialect: str, sqlite_url: str) -> None:
    config = lab_config(calls=2000, dialect=dialect)  # type: ignore[arg-type]
    async with (
        database(sqlite_url) as engine,
        Simulator(config, seed=7, speed=None, secret=SECRET) as sim,
        running(listener_for(sim.port, engine)) as service,
    ):
        truth = await sim.run()
        await settle(service)
        rows = await fetch_rows(engine)
    assert len(truth.queue_calls()) == 2000
    assert truth_mismatches(truth, rows) == []
    outcomes = truth.outcome_counts()
    for outcome in ("answered", "abandoned", "timeout", "exit-empty", "exit-with-key"):
        assert outcomes.get(outcome, 0) > 0, outcomes
    assert service.pipeline.stats.malformed == 0
    assert service.pipeline.stats.rejected == 0
    assert service.writer_stats.events_dropped == 0
