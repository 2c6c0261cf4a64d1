"""Shared helpers: fold simulator output through the real ami_listener pipeline."""

from __future__ import annotations

from centralita.ami_listener.events import decode_event
from centralita.ami_listener.protocol import AmiMessage, AmiParser, encode_action
from centralita.ami_listener.records import CallRecord
from centralita.ami_listener.tracker import CallFinished, CallTracker
from centralita.simulator.dialect import Headers
from centralita.simulator.truth import TruthCall


def encode_stream(events: list[Headers]) -> bytes:
    """The events as AMI bytes, as the server writes them."""
    return b"".join(encode_action(e) for e in events)


def parse_stream(data: bytes) -> list[AmiMessage]:
    """Parse AMI bytes (no banner) into messages; fail on anything malformed."""
    parser = AmiParser()
    items = parser.feed(data)
    out = []
    for item in items:
        assert isinstance(item, AmiMessage), item
        out.append(item)
    return out


def track(messages: list[AmiMessage]) -> dict[str, CallRecord]:
    """Fold messages through decode_event + CallTracker; finished records by uniqueid."""
    tracker = CallTracker("sim")
    records: dict[str, CallRecord] = {}
    for msg in messages:
        if not msg.is_event:
            continue
        for effect in tracker.apply(decode_event(msg), 0.0):
            if isinstance(effect, CallFinished):
                records[effect.call.uniqueid] = effect.call
    return records


def mismatches(truth: list[TruthCall], records: dict[str, CallRecord]) -> list[str]:
    """Calls whose outcome, wait (within 1 s) or agent differ from the truth."""
    bad = []
    for call in truth:
        rec = records.get(call.uniqueid)
        if rec is None:
            bad.append(f"{call.uniqueid}: not tracked (truth {call.outcome})")
            continue
        wait_ok = (
            rec.wait_s is not None
            and call.wait_s is not None
            and abs(rec.wait_s - call.wait_s) <= 1.0
        )
        if (
            rec.outcome != call.outcome
            or not wait_ok
            or rec.agent_interface != call.agent_interface
        ):
            bad.append(
                f"{call.uniqueid}: truth {call.outcome} {call.wait_s} {call.agent_interface!r}"
                f" / tracked {rec.outcome} {rec.wait_s} {rec.agent_interface!r}"
            )
    return bad
