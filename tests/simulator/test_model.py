"""The pure model: determinism, header sets and queue_log format as in the real captures."""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from pathlib import Path

import msgspec
import pytest

from centralita.ami_listener.protocol import AmiMessage, iter_capture
from centralita.simulator.config import lab_config
from centralita.simulator.dialect import Headers
from centralita.simulator.model import Engine
from tests.simulator.helpers import encode_stream, mismatches, parse_stream, track

FIXTURES = Path(__file__).parent.parent / "fixtures"
CAPTURES = {
    "12": [
        "GIT-master-f0c1c1a7b7-scenario.ami",
        "edge-GIT-master-f0c1c1a7b7-scenario.ami",
        "GIT-16-113871b5f5-scenario.ami",
    ],
    "11": ["GIT-11-f3cdc37300-scenario.ami"],
}
QUEUE_LOGS = {
    "12": ["GIT-master-f0c1c1a7b7-queue_log", "edge-GIT-master-f0c1c1a7b7-queue_log"],
    "11": ["GIT-11-f3cdc37300-queue_log"],
}
# Emitted by the simulator but absent from the capture of that dialect (no removal was
# recorded on Asterisk 11); their fields come from Asterisk 11's app_queue.c.
NOT_CAPTURED = {"11": {"QueueMemberRemoved"}, "12": set()}


def _norm(keys: list[str]) -> tuple[str, ...]:
    return tuple(re.sub(r"^ChanVariable\(.*\)$", "ChanVariable(*)", k) for k in keys)


def _capture_keysets(dialect: str) -> dict[str, set[tuple[str, ...]]]:
    sets: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for name in CAPTURES[dialect]:
        for item in iter_capture((FIXTURES / name).read_bytes()):
            if isinstance(item, AmiMessage) and item.is_event:
                sets[item.name].add(_norm([k for k, _ in item.pairs()]))
    return sets


def _full_run(dialect: str, calls: int = 300) -> tuple[Engine, list[Headers]]:
    """A run with every kind of event: calls, an Originate, a removal, a pause."""
    engine = Engine(lab_config(calls=calls, dialect=dialect), seed=11)  # type: ignore[arg-type]
    engine.advance(engine.now + 200)
    events = engine.drain()
    engine.originate("o-1", channel="Local/70000001@outbound", context="from-pstn", exten="101")
    engine.remove_member("q4639999", "Local/agent5@lab-agents")
    engine.pause_member("Local/agent1@lab-agents", True, queue="q101", reason="descanso")
    events += engine.drain()
    events += engine.run()
    return engine, events


@pytest.fixture(scope="module", params=["12", "11"])
def run(request: pytest.FixtureRequest) -> tuple[str, Engine, list[Headers]]:
    dialect = request.param
    engine, events = _full_run(dialect)
    return dialect, engine, events


def test_same_seed_same_stream_and_truth() -> None:
    def digest(seed: int) -> tuple[str, bytes, list[str]]:
        engine = Engine(lab_config(calls=300), seed=seed)
        data = encode_stream(engine.run())
        truth = msgspec.json.encode(engine.truth)
        return hashlib.sha256(data).hexdigest(), truth, engine.queue_log

    first, again, other = digest(5), digest(5), digest(6)
    assert first == again
    assert first[0] != other[0]


def test_headers_match_the_captures(run: tuple[str, Engine, list[Headers]]) -> None:
    dialect, _engine, events = run
    captured = _capture_keysets(dialect)
    emitted: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for event in events:
        emitted[event[0][1]].add(_norm([k for k, _ in event]))
    expected_types = {
        "12": {"QueueCallerJoin", "QueueCallerLeave", "AgentConnect", "DeviceStateChange"},
        "11": {"Join", "Leave", "AgentConnect", "QueueMemberPaused"},
    }[dialect]
    assert expected_types <= set(emitted)
    assert "OriginateResponse" in emitted
    assert "QueueCallerAbandon" in emitted
    for name, keysets in emitted.items():
        if name in NOT_CAPTURED[dialect]:
            continue
        assert name in captured, f"{name} never appears in the {dialect} captures"
        for keys in keysets:
            assert keys in captured[name], f"{name}: {keys} not seen in the captures"


def _verb_shapes(lines: list[str]) -> dict[str, set[int]]:
    shapes: dict[str, set[int]] = defaultdict(set)
    for line in lines:
        parts = line.rstrip("\n").split("|")
        shapes[parts[4]].add(len(parts))
    return shapes


def test_queue_log_matches_the_captures(run: tuple[str, Engine, list[Headers]]) -> None:
    dialect, engine, _events = run
    captured: dict[str, set[int]] = defaultdict(set)
    # Verbs the 11 capture never produced (exits, removal) have the same format as in 12+.
    for name in QUEUE_LOGS[dialect] + QUEUE_LOGS["12"]:
        lines = (FIXTURES / name).read_text(encoding="utf-8").splitlines()
        for verb, sizes in _verb_shapes(lines).items():
            captured[verb] |= sizes
    ours = _verb_shapes(engine.queue_log)
    assert {"ENTERQUEUE", "CONNECT", "ABANDON", "COMPLETEAGENT", "ADDMEMBER"} <= set(ours)
    for verb, sizes in ours.items():
        assert verb in captured, verb
        assert sizes <= captured[verb], (verb, sizes, captured[verb])
    if dialect == "11":
        assert "RINGCANCELED" not in ours
        assert all("|PAUSEALL|" not in line or "Local/" in line for line in engine.queue_log)
    for line in engine.queue_log:
        assert re.match(r"^\d{10}\|", line), line


def test_truth_and_queue_log_files(tmp_path: Path) -> None:
    from centralita.simulator.truth import read_truth, write_truth

    engine = Engine(lab_config(calls=50), seed=3)
    engine.run()
    engine.write_queue_log(str(tmp_path / "queue_log"))
    write_truth(engine.truth, tmp_path / "truth.json")
    assert (tmp_path / "queue_log").read_text().splitlines() == engine.queue_log
    again = read_truth(tmp_path / "truth.json")
    assert [c.uniqueid for c in again.calls] == [c.uniqueid for c in engine.truth.calls]


def test_uniqueids_and_local_channels_as_in_the_captures() -> None:
    engine = Engine(lab_config(calls=20), seed=1)
    engine.run()
    for call in engine.truth.calls:
        assert re.fullmatch(r"\d{10}\.\d+", call.uniqueid)
        assert re.fullmatch(r"Local/\d+@lab-callers-[0-9a-f]{8};1", call.channel)


def test_restart_loses_calls_in_progress() -> None:
    engine = Engine(lab_config(calls=200, noise=False), seed=4)
    engine.advance(engine.now + 300)
    in_progress = set(engine.active)
    assert in_progress
    engine.restart()
    engine.run()
    truth = engine.truth.by_uniqueid()
    assert all(truth[uid].lost and truth[uid].outcome == "lost" for uid in in_progress)
    assert engine.truth.restarts
    assert engine.queue_log.count(engine.queue_log[0]) == 1  # QUEUESTART line of the boot
    assert sum("QUEUESTART" in line for line in engine.queue_log) == 2
    # Calls after the restart are tracked normally.
    later = [c for c in engine.truth.queue_calls() if not c.lost]
    assert len({c.uniqueid for c in engine.truth.calls}) == len(engine.truth.calls)
    assert all(c.outcome is not None for c in later)


def test_originate_outcomes_and_queue_entry() -> None:
    engine = Engine(lab_config(calls=1, noise=False), seed=9)
    for i in range(40):
        engine.originate(f"c-{i}", channel="Local/7000@outbound", context="campaign", exten="q102")
    events = engine.run()
    responses = [dict(e) for e in events if e[0] == ("Event", "OriginateResponse")]
    assert len(responses) == 40
    outcomes = {o.outcome for o in engine.truth.originates}
    assert "answered" in outcomes
    assert outcomes - {"answered"}
    answered = [o for o in engine.truth.originates if o.outcome == "answered"]
    calls = engine.truth.by_uniqueid()
    assert all(calls[o.uniqueid].queues == ["q102"] for o in answered)
    failures = [r for r in responses if r["Response"] == "Failure"]
    assert all(r["Reason"] in {"3", "5", "8"} for r in failures)
    records = track(parse_stream(encode_stream(events)))
    assert mismatches([calls[o.uniqueid] for o in answered], records) == []
