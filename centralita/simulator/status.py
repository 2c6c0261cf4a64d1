"""QueueStatus and QueueSummary answers from the engine's live state (pure).

Field lists as in the captures' ``*queuestatus.ami``: 12+ marks the list with
``EventList: start`` / ``EventList: Complete`` + ``ListItems``; 11 has neither, QueueMember
says ``IsInCall`` and QueueParams has no ``ServicelevelPerf2``. QueueEntry (a waiting
caller) carries ``Wait`` in whole seconds, plus ``Priority`` in 12+.
"""

from __future__ import annotations

from centralita.simulator.dialect import STATE_DESC, Headers
from centralita.simulator.model import Engine
from centralita.simulator.state import QueueState


def _perf(num: int, den: int) -> str:
    return f"{(100.0 * num / den) if den else 0.0:.1f}"


def _response(engine: Engine, action_id: str, message: str) -> Headers:
    out: Headers = [("Response", "Success"), ("ActionID", action_id)]
    if engine.config.dialect != "11":
        out.append(("EventList", "start"))
    out.append(("Message", message))
    return out


def _complete(engine: Engine, name: str, action_id: str, items: int) -> Headers:
    out: Headers = [("Event", name), ("ActionID", action_id)]
    if engine.config.dialect != "11":
        out += [("EventList", "Complete"), ("ListItems", str(items))]
    return out


def _selected(engine: Engine, queue: str) -> list[QueueState]:
    return [qs for qs in engine.queues.values() if not queue or qs.name == queue]


def queue_status(engine: Engine, action_id: str, queue: str = "") -> list[Headers]:
    """The response and list events of ``Action: QueueStatus``."""
    old = engine.config.dialect == "11"
    out = [_response(engine, action_id, "Queue status will follow")]
    items = 0
    for qs in _selected(engine, queue):
        params: Headers = [
            ("Event", "QueueParams"),
            ("Queue", qs.name),
            ("Max", "0"),
            ("Strategy", qs.cfg.strategy),
            ("Calls", str(len(qs.waiting))),
            ("Holdtime", str(qs.holdtime_avg)),
            ("TalkTime", str(qs.talktime_avg)),
            ("Completed", str(qs.completed)),
            ("Abandoned", str(qs.abandoned)),
            ("ServiceLevel", str(qs.cfg.service_level_s)),
            ("ServicelevelPerf", _perf(qs.completed_in_sl, qs.completed)),
        ]
        if not old:
            params.append(
                (
                    "ServicelevelPerf2",
                    _perf(
                        qs.completed_in_sl + qs.abandoned_in_sl,
                        qs.completed + qs.abandoned,
                    ),
                )
            )
        params += [("Weight", "0"), ("ActionID", action_id)]
        out.append(params)
        for m in qs.members:
            v = engine.member_view(m)
            member: Headers = [
                ("Event", "QueueMember"),
                ("Queue", qs.name),
                ("Name", v.name),
                ("Location", v.interface),
                ("StateInterface", v.interface),
                ("Membership", "dynamic"),
                ("Penalty", str(v.penalty)),
                ("CallsTaken", str(v.calls_taken)),
                ("LastCall", str(v.last_call)),
            ]
            if old:
                member.append(("IsInCall", str(int(v.in_call))))
            else:
                member += [
                    ("LastPause", str(v.last_pause)),
                    ("LoginTime", str(v.login_time)),
                    ("InCall", str(int(v.in_call))),
                ]
            member += [("Status", str(v.status)), ("Paused", str(int(v.paused)))]
            if not old:
                member += [("PausedReason", v.paused_reason), ("Wrapuptime", "0")]
            member.append(("ActionID", action_id))
            out.append(member)
        for pos, call in enumerate(qs.waiting, start=1):
            ch = call.chan
            entry: Headers = [
                ("Event", "QueueEntry"),
                ("Queue", qs.name),
                ("Position", str(pos)),
                ("Channel", ch.name),
                ("Uniqueid", ch.uniqueid),
                ("CallerIDNum", ch.cid_num or "unknown"),
                ("CallerIDName", ch.cid_name or "unknown"),
                ("ConnectedLineNum", ch.conn_num or "unknown"),
                ("ConnectedLineName", ch.conn_name or "unknown"),
                # app_queue: (now - qe->start) with both time_t, i.e. whole epoch
                # seconds subtracted (not the exact wait rounded down).
                ("Wait", str(int(engine.now) - int(call.joined_at))),
            ]
            if not old:
                entry.append(("Priority", "0"))
            entry.append(("ActionID", action_id))
            out.append(entry)
        items += 1 + len(qs.members) + len(qs.waiting)
    out.append(_complete(engine, "QueueStatusComplete", action_id, items))
    return out


def channel_status(engine: Engine, action_id: str) -> list[Headers]:
    """The response and list events of ``Action: Status`` (every live channel).

    As manager.c's action_status: 12+ send the channel snapshot (the events' own field
    list), then ``Seconds``, and mark the list with EventList; 11 sends its literal field
    list with ``BridgedChannel``/``BridgedUniqueid`` for a bridged channel, and no
    EventList. Both end with ``StatusComplete`` and ``Items``.
    """
    old = engine.config.dialect == "11"
    ami = engine.ami
    out = [_response(engine, action_id, "Channel status will follow")]
    channels = engine.live_channels()
    for ch, peer in channels:
        seconds = str(int(engine.now) - int(ch.created))
        event: Headers = [("Event", "Status"), ("Privilege", "Call")]
        if old:
            event += [
                ("Channel", ch.name),
                ("CallerIDNum", ch.cid_num),
                ("CallerIDName", ch.cid_name),
                ("Accountcode", ch.accountcode),
                ("ChannelState", str(ch.state)),
                ("ChannelStateDesc", STATE_DESC.get(ch.state, "Unknown")),
                ("Context", ch.context),
                ("Extension", ch.exten),
                ("Priority", str(ch.priority)),
                ("Seconds", seconds),
            ]
            if peer is not None:
                event += [("BridgedChannel", peer.name), ("BridgedUniqueid", peer.uniqueid)]
            event.append(("Uniqueid", ch.uniqueid))
        else:
            event += [*ami.snapshot(ch), ("Seconds", seconds)]
        event.append(("ActionID", action_id))
        out.append(event)
    done = _complete(engine, "StatusComplete", action_id, len(channels))
    done.append(("Items", str(len(channels))))
    out.append(done)
    return out


def queue_summary(engine: Engine, action_id: str, queue: str = "") -> list[Headers]:
    """The response and list events of ``Action: QueueSummary``."""
    out = [_response(engine, action_id, "Queue summary will follow")]
    selected = _selected(engine, queue)
    for qs in selected:
        logged = len(qs.members)
        available = sum(1 for m in qs.members if not m.paused and m.agent.free)
        longest = max((int(engine.now) - int(c.joined_at) for c in qs.waiting), default=0)
        out.append(
            [
                ("Event", "QueueSummary"),
                ("Queue", qs.name),
                ("LoggedIn", str(logged)),
                ("Available", str(available)),
                ("Callers", str(len(qs.waiting))),
                ("HoldTime", str(qs.holdtime_avg)),
                ("TalkTime", str(qs.talktime_avg)),
                ("LongestHoldTime", str(longest)),
                ("ActionID", action_id),
            ]
        )
    out.append(_complete(engine, "QueueSummaryComplete", action_id, len(selected)))
    return out
