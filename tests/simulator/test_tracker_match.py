"""A 2,000-call seeded run, folded through the real parser, decoder and CallTracker,
matches the simulator's own ground truth call by call, in both dialects."""

from __future__ import annotations

import pytest

from centralita.simulator.config import lab_config
from centralita.simulator.model import Engine
from tests.simulator.helpers import encode_stream, mismatches, parse_stream, track


@pytest.mark.parametrize("dialect", ["12", "11"])
def test_2000_calls_match_truth(dialect: str) -> None:
    engine = Engine(lab_config(calls=2000, dialect=dialect), seed=2027)  # type: ignore[arg-type]
    events = engine.run()
    records = track(parse_stream(encode_stream(events)))
    calls = engine.truth.queue_calls()
    assert len(calls) == 2000
    assert mismatches(calls, records) == []
    outcomes = engine.truth.outcome_counts()
    # The lab config exercises every queue outcome the tracker knows.
    for outcome in ("answered", "abandoned", "timeout", "exit-empty", "exit-with-key"):
        assert outcomes.get(outcome, 0) > 0, outcomes
    # Overflow q101 -> q101b happened and stayed one call.
    assert any(c.queues == ["q101", "q101b"] for c in calls)
