"""The wallboard's per-agent states and counts, from what Asterisk really sends.

12+ report a member on a call as ``Status: 2`` with ``InCall: 0`` (the master capture has
329 such QueueMemberStatus events); the state comes from the device Status and
Paused/PausedReason, never from InCall alone."""

from __future__ import annotations

from centralita.ami_listener.tracker import MemberUpdated
from centralita.console.live import LiveState, member_state

IFACE = "Local/agent1@lab-agents"


def member(
    queue: str, status: int, *, paused: bool = False, in_call: bool = False, reason: str = ""
) -> MemberUpdated:
    return MemberUpdated(
        queue=queue,
        interface=IFACE,
        name="Agent 1",
        status=status,
        paused=paused,
        in_call=in_call,
        pause_reason=reason,
    )


def test_member_state_follows_the_device_status() -> None:
    assert member_state(1, False, False) == "available"
    assert member_state(2, False, False) == "on_call"  # in use, InCall 0 (12+)
    assert member_state(1, False, True) == "on_call"  # 11: InCall 1 while Status 1
    assert member_state(3, False, False) == "on_call"
    assert member_state(8, False, False) == "on_call"  # on hold
    assert member_state(6, False, False) == "ringing"
    assert member_state(7, False, False) == "on_call"
    assert member_state(1, True, False) == "paused"
    assert member_state(2, True, False) == "on_call"  # paused during a call
    assert member_state(5, True, False) == "offline"
    assert member_state(4, False, False) == "offline"


def test_agent_row_counts_and_time_in_state() -> None:
    now = [1_000.0]
    live = LiveState("lab", clock=lambda: now[0])
    live.handle(member("q101", 1))
    live.handle(member("q102", 1))
    board = live.snapshot()
    assert board["totals"]["available"] == 1
    now[0] = 1_010.0
    live.handle(member("q101", 2))  # the capture's QueueMemberStatus: InCall 0, Status 2
    live.handle(member("q102", 2))
    now[0] = 1_025.0
    board = live.snapshot()
    [agent] = board["agents"]
    assert (agent["state"], agent["state_label"]) == ("on_call", "en llamada")
    assert agent["in_state_s"] == 15.0
    assert board["totals"] == {
        "available": 0,
        "on_call": 1,
        "ringing": 0,
        "paused": 0,
        "offline": 0,
    }
    assert [(q["queue"], q["on_call"], q["available"]) for q in board["queues"]] == [
        ("q101", 1, 0),
        ("q102", 1, 0),
    ]
    # Paused in one queue only: still takes the other's calls (available), reason shown.
    live.handle(member("q101", 1, paused=True, reason="almuerzo"))
    live.handle(member("q102", 1))
    [agent] = live.snapshot()["agents"]
    assert (agent["state"], agent["paused_in"], agent["pause_reason"]) == (
        "available",
        ["q101"],
        "almuerzo",
    )
    live.handle(member("q102", 1, paused=True, reason="almuerzo"))
    now[0] = 1_030.0
    board = live.snapshot()
    [agent] = board["agents"]
    assert (agent["state"], agent["state_label"], agent["pause_reason"]) == (
        "paused",
        "en pausa",
        "almuerzo",
    )
    assert agent["in_state_s"] == 5.0  # paused everywhere at 1025
    assert board["totals"]["paused"] == 1
    assert [q["paused"] for q in board["queues"]] == [1, 1]


def test_an_agent_who_transferred_the_call_shows_no_call() -> None:
    """The real capture of a console transfer 102 → 101: once the caller leaves beto for
    q101, the wallboard shows the call on agent1 only, not on both until the hang-up (the
    freed member's QueueMemberStatus clears beto's call)."""
    from centralita.ami_listener.events import decode_event
    from centralita.ami_listener.tracker import CallAnswered, CallTracker
    from tests.console.test_controls_capture import AGENT1, AGENT2, TALKING_C, capture

    tracker = CallTracker("lab1")
    live = LiveState("lab1", clock=lambda: 0.0)
    seen: list[tuple[str, str | None, str | None]] = []
    for msg in capture("redirect-102-to-101"):
        if not msg.is_event:
            continue
        for effect in tracker.apply(decode_event(msg), 0.0):
            live.handle(effect)
            if isinstance(effect, CallAnswered) and effect.call.uniqueid == TALKING_C:
                calls = {
                    a["interface"]: (a["call"] or {}).get("call_id")
                    for a in live.snapshot()["agents"]
                }
                seen.append((effect.queue, calls.get(AGENT2), calls.get(AGENT1)))
    # answered by beto in q102; then by agent1 in q101, beto no longer on it
    assert seen == [("q102", TALKING_C, None), ("q101", None, TALKING_C)]
