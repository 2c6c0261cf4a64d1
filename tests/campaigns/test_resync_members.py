"""Queue members after a (re)login: the campaign learns them from the QueueStatus answer.

The tracker turns a resync snapshot (``CallTracker.resync``) into ``MemberUpdated``
effects (and removals for members that are gone), so effect-only consumers (wallboard)
stay right after a reconnect; the campaign sink also reads the snapshot's ``QueueMember``
events itself (``handle_event``).
"""

from __future__ import annotations

from centralita.ami_listener.pipeline import RESYNC_ACTION_PREFIX, Pipeline
from centralita.ami_listener.protocol import AmiMessage
from centralita.ami_listener.tracker import CallTracker, Effect, MemberUpdated
from centralita.campaigns.dialer import DEFAULT_QUEUE, Dialer
from centralita.campaigns.sinks import CampaignSink, MemberAvailability
from tests.campaigns.fakes import FakePbx, VirtualClock, utc

ACTION = f"{RESYNC_ACTION_PREFIX}1"


def snapshot(*members: tuple[str, int, int]) -> list[AmiMessage]:
    """A QueueStatus answer: (interface, status, paused) per member of the campaign queue."""
    out = [
        AmiMessage(
            {"Event": "QueueParams", "Queue": DEFAULT_QUEUE, "Calls": "0", "ActionID": ACTION}
        )
    ]
    for interface, status, paused in members:
        out.append(
            AmiMessage(
                {
                    "Event": "QueueMember",
                    "Queue": DEFAULT_QUEUE,
                    "Name": interface,
                    "Location": interface,
                    "Status": str(status),
                    "Paused": str(paused),
                    "InCall": "0",
                    "ActionID": ACTION,
                }
            )
        )
    out.append(AmiMessage({"Event": "QueueStatusComplete", "ActionID": ACTION}))
    return out


class Effects:
    def __init__(self) -> None:
        self.effects: list[Effect] = []

    def handle(self, effect: Effect) -> None:
        self.effects.append(effect)


def test_the_campaign_sink_takes_free_agents_from_a_resync_snapshot() -> None:
    clock = VirtualClock(utc(2025, 2, 25, 13, 0))
    pbx = FakePbx(clock, [])
    availability = MemberAvailability()
    availability.update(DEFAULT_QUEUE, "Local/gone@x", status=1, paused=False, in_call=False)
    sink = CampaignSink(Dialer(None, "2025-03", pbx, availability, clock=clock), availability)  # type: ignore[arg-type]
    pipeline = Pipeline(CallTracker("t"), sinks=[sink])
    for msg in snapshot(("Local/a1@x", 1, 0), ("Local/a2@x", 1, 1), ("Local/a3@x", 2, 0)):
        pipeline.feed(msg, 0.0)
    assert availability.free_agents(DEFAULT_QUEUE) == 1  # a1: a2 is paused, a3 busy


def test_a_resync_snapshot_reaches_effect_sinks_as_member_updates() -> None:
    effects = Effects()
    pipeline = Pipeline(CallTracker("t"), sinks=[effects])
    for msg in snapshot(("Local/a1@x", 1, 0)):
        pipeline.feed(msg, 0.0)
    assert any(isinstance(e, MemberUpdated) for e in effects.effects)
