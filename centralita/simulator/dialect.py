"""AMI event builders for the two dialects, header for header as in the real captures.

Each builder returns an event as an ordered list of ``(key, value)`` pairs, ready for
:func:`simulator.wire.encode`. ``Ami12`` writes the Stasis dialect of
Asterisk 12 and later (channel snapshot first, ``Dest*`` snapshot for the member channel);
``Ami11`` writes Asterisk 11's literal formats (``Join``/``Leave``, ``Member``/``Location``,
``ChanVariable(<channel>): CHANNEL(linkedid)=...`` instead of a ``Linkedid`` header).
Pure module: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

Headers = list[tuple[str, str]]

STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}
CAUSE_TXT = {0: "Unknown", 16: "Normal Clearing", 17: "User busy", 19: "No user responding"}


@dataclass(slots=True)
class Channel:
    """What a channel snapshot shows. An empty caller name means "none given"."""

    name: str
    uniqueid: str
    linkedid: str
    context: str
    exten: str
    priority: int = 1
    state: int = 0
    cid_num: str = ""
    cid_name: str = ""
    conn_num: str = ""
    conn_name: str = ""
    language: str = "en"
    accountcode: str = ""
    created: float = 0.0  # epoch seconds (for the Status action's Seconds)


@dataclass(slots=True)
class MemberView:
    """A queue member as the member events show it."""

    queue: str
    name: str
    interface: str
    calls_taken: int
    last_call: int
    last_pause: int
    login_time: int
    in_call: bool
    status: int
    paused: bool
    paused_reason: str
    penalty: int = 0


def _head(name: str, klass: str, ts: str) -> Headers:
    return [("Event", name), ("Privilege", f"{klass},all"), ("Timestamp", ts)]


class Ami12:
    """Asterisk 12/13 and later (the master and 16 captures)."""

    version = "13.0.0"
    dialect = "12"

    @staticmethod
    def snapshot(ch: Channel, prefix: str = "") -> Headers:
        """The Stasis channel snapshot, optionally prefixed (``Dest``)."""
        unknown = "<unknown>"
        return [
            (prefix + "Channel", ch.name),
            (prefix + "ChannelState", str(ch.state)),
            (prefix + "ChannelStateDesc", STATE_DESC.get(ch.state, "Unknown")),
            (prefix + "CallerIDNum", ch.cid_num or unknown),
            (prefix + "CallerIDName", ch.cid_name or unknown),
            (prefix + "ConnectedLineNum", ch.conn_num or unknown),
            (prefix + "ConnectedLineName", ch.conn_name or unknown),
            (prefix + "Language", ch.language),
            (prefix + "AccountCode", ch.accountcode),
            (prefix + "Context", ch.context),
            (prefix + "Exten", ch.exten),
            (prefix + "Priority", str(ch.priority)),
            (prefix + "Uniqueid", ch.uniqueid),
            (prefix + "Linkedid", ch.linkedid),
        ]

    def channel_event(self, name: str, ts: str, ch: Channel) -> Headers:
        """Newchannel, Newstate, NewConnectedLine: the snapshot alone."""
        return _head(name, "call", ts) + self.snapshot(ch)

    def newcallerid(self, ts: str, ch: Channel) -> Headers:
        """NewCallerid."""
        return [
            *self.channel_event("NewCallerid", ts, ch),
            ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)"),
        ]

    def newexten(self, ts: str, ch: Channel, app: str, data: str) -> Headers:
        """Newexten: a dialplan step."""
        return (
            _head("Newexten", "dialplan", ts)
            + self.snapshot(ch)
            + [("Extension", ch.exten), ("Application", app), ("AppData", data)]
        )

    def varset(self, ts: str, ch: Channel, variable: str, value: str) -> Headers:
        """VarSet on a channel."""
        return (
            _head("VarSet", "dialplan", ts)
            + self.snapshot(ch)
            + [("Variable", variable), ("Value", value)]
        )

    def hangup(self, ts: str, ch: Channel, cause: int) -> Headers:
        """Hangup."""
        return (
            _head("Hangup", "call", ts)
            + self.snapshot(ch)
            + [("Cause", str(cause)), ("Cause-txt", CAUSE_TXT.get(cause, "Unknown"))]
        )

    def soft_hangup(self, ts: str, ch: Channel, cause: int) -> Headers:
        """SoftHangupRequest."""
        return _head("SoftHangupRequest", "call", ts) + self.snapshot(ch) + [("Cause", str(cause))]

    def bridge_leave(self, ts: str, ch: Channel, bridge: str, remaining: int) -> Headers:
        """BridgeLeave (12+): the channel's snapshot shows where it is going."""
        return [
            *_head("BridgeLeave", "call", ts),
            ("BridgeUniqueid", bridge),
            ("BridgeType", "basic"),
            ("BridgeTechnology", "simple_bridge"),
            ("BridgeCreator", "<unknown>"),
            ("BridgeName", "<unknown>"),
            ("BridgeNumChannels", str(remaining)),
            ("BridgeVideoSourceMode", "none"),
            *self.snapshot(ch),
        ]

    def device_state(self, ts: str, device: str, state: str) -> Headers | None:
        """DeviceStateChange (12+ only)."""
        return [*_head("DeviceStateChange", "call", ts), ("Device", device), ("State", state)]

    def join(self, ts: str, ch: Channel, queue: str, position: int, count: int) -> Headers:
        """QueueCallerJoin."""
        return (
            _head("QueueCallerJoin", "agent", ts)
            + self.snapshot(ch)
            + [("Queue", queue), ("Position", str(position)), ("Count", str(count))]
        )

    def leave(self, ts: str, ch: Channel, queue: str, position: int, count: int) -> Headers:
        """QueueCallerLeave."""
        return (
            _head("QueueCallerLeave", "agent", ts)
            + self.snapshot(ch)
            + [("Queue", queue), ("Position", str(position)), ("Count", str(count))]
        )

    def abandon(
        self, ts: str, ch: Channel, queue: str, *, position: int, original: int, hold: int
    ) -> Headers:
        """QueueCallerAbandon (hang-up, timeout and empty exit alike)."""
        return (
            _head("QueueCallerAbandon", "agent", ts)
            + self.snapshot(ch)
            + [
                ("Queue", queue),
                ("Position", str(position)),
                ("OriginalPosition", str(original)),
                ("HoldTime", str(hold)),
            ]
        )

    def _agent(self, name: str, ts: str, caller: Channel, agent: Channel, m: MemberView) -> Headers:
        return (
            _head(name, "agent", ts)
            + self.snapshot(caller)
            + self.snapshot(agent, "Dest")
            + [("Queue", m.queue), ("Interface", m.interface), ("MemberName", m.name)]
        )

    def agent_called(self, ts: str, caller: Channel, agent: Channel, m: MemberView) -> Headers:
        """AgentCalled."""
        return self._agent("AgentCalled", ts, caller, agent, m)

    def agent_ringnoanswer(
        self, ts: str, caller: Channel, agent: Channel, m: MemberView, ring_ms: int
    ) -> Headers:
        """AgentRingNoAnswer (RingTime in milliseconds)."""
        return [*self._agent("AgentRingNoAnswer", ts, caller, agent, m), ("RingTime", str(ring_ms))]

    def agent_connect(
        self, ts: str, caller: Channel, agent: Channel, m: MemberView, *, hold: int, ring: int
    ) -> Headers:
        """AgentConnect (HoldTime and RingTime in seconds)."""
        return [
            *self._agent("AgentConnect", ts, caller, agent, m),
            ("HoldTime", str(hold)),
            ("RingTime", str(ring)),
        ]

    def agent_complete(
        self,
        ts: str,
        caller: Channel,
        agent: Channel,
        m: MemberView,
        *,
        hold: int,
        talk: int,
        reason: str,
    ) -> Headers:
        """AgentComplete."""
        return [
            *self._agent("AgentComplete", ts, caller, agent, m),
            ("HoldTime", str(hold)),
            ("TalkTime", str(talk)),
            ("Reason", reason),
        ]

    def agent_complete_late(
        self, ts: str, caller: Channel, m: MemberView, *, hold: int, talk: int
    ) -> Headers:
        """The AgentComplete of a stay whose caller was Redirected away from the agent.

        Sent when the caller's channel finally hangs up (app_queue's stasis hang-up
        handler of the old stay): ``Reason: caller``, ``TalkTime`` counted up to that
        hang-up, and no ``Dest*`` block (the agent's channel is long gone). Real master
        captures (tests/fixtures/captures) show it with the caller's snapshot in 2 of 3
        redirects; in the third the snapshot was gone too (only Queue ... Reason).
        """
        return [
            *_head("AgentComplete", "agent", ts),
            *self.snapshot(caller),
            ("Queue", m.queue),
            ("Interface", m.interface),
            ("MemberName", m.name),
            ("HoldTime", str(hold)),
            ("TalkTime", str(talk)),
            ("Reason", "caller"),
        ]

    def member(self, name: str, ts: str, m: MemberView) -> Headers:
        """QueueMemberStatus / Added / Removed / Pause (the same fields in 12+)."""
        return [
            *_head(name, "agent", ts),
            ("Queue", m.queue),
            ("MemberName", m.name),
            ("Interface", m.interface),
            ("StateInterface", m.interface),
            ("Membership", "dynamic"),
            ("Penalty", str(m.penalty)),
            ("CallsTaken", str(m.calls_taken)),
            ("LastCall", str(m.last_call)),
            ("LastPause", str(m.last_pause)),
            ("LoginTime", str(m.login_time)),
            ("InCall", str(int(m.in_call))),
            ("Status", str(m.status)),
            ("Paused", str(int(m.paused))),
            ("PausedReason", m.paused_reason),
            ("Ringinuse", "0"),
            ("Wrapuptime", "0"),
        ]

    def member_pause(self, ts: str, m: MemberView) -> Headers:
        """QueueMemberPause."""
        return self.member("QueueMemberPause", ts, m)

    def member_removed(self, ts: str, m: MemberView) -> Headers:
        """QueueMemberRemoved."""
        return self.member("QueueMemberRemoved", ts, m)

    def originate_response(
        self,
        ts: str,
        *,
        action_id: str,
        response: str,
        channel: str,
        context: str,
        exten: str,
        reason: int,
        uniqueid: str,
        cid_num: str,
        cid_name: str,
    ) -> Headers:
        """OriginateResponse (same fields in both dialects, 11 adds its ChanVariable)."""
        return [
            *_head("OriginateResponse", "call", ts),
            ("ActionID", action_id),
            ("Response", response),
            ("Channel", channel),
            ("Context", context),
            ("Exten", exten),
            ("Reason", str(reason)),
            ("Uniqueid", uniqueid),
            ("CallerIDNum", cid_num or "<unknown>"),
            ("CallerIDName", cid_name or "<unknown>"),
        ]

    def user_event(self, ts: str, ch: Channel, name: str, fields: Headers) -> Headers:
        """UserEvent raised by the dialplan or an AGI ``EXEC UserEvent``."""
        return _head("UserEvent", "user", ts) + self.snapshot(ch) + [("UserEvent", name), *fields]

    def fully_booted(self, uptime: int) -> Headers:
        """FullyBooted (no Timestamp in the captures)."""
        return [
            ("Event", "FullyBooted"),
            ("Privilege", "system,all"),
            ("Uptime", str(uptime)),
            ("LastReload", str(uptime)),
            ("Status", "Fully Booted"),
        ]


def _linked(ch: Channel) -> tuple[str, str]:
    return (f"ChanVariable({ch.name})", f"CHANNEL(linkedid)={ch.linkedid}")


class Ami11(Ami12):
    """Asterisk 11 (Elastix 2.x generation), with ``channelvars=CHANNEL(linkedid)``."""

    version = "1.3"
    dialect = "11"

    def channel_event(self, name: str, ts: str, ch: Channel) -> Headers:
        """Newchannel and Newstate in 11's own field lists (NewConnectedLine does not exist
        in 11, it is sent as a Newstate-shaped event only in 12+: callers skip it)."""
        head = _head(name, "call", ts)
        desc = STATE_DESC.get(ch.state, "Unknown")
        if name == "Newchannel":
            return [
                *head,
                ("Channel", ch.name),
                ("ChannelState", str(ch.state)),
                ("ChannelStateDesc", desc),
                ("CallerIDNum", ch.cid_num),
                ("CallerIDName", ch.cid_name),
                ("AccountCode", ch.accountcode),
                ("Exten", ch.exten),
                ("Context", ch.context),
                ("Uniqueid", ch.uniqueid),
                _linked(ch),
            ]
        return [
            *head,
            ("Channel", ch.name),
            ("ChannelState", str(ch.state)),
            ("ChannelStateDesc", desc),
            ("CallerIDNum", ch.cid_num),
            ("CallerIDName", ch.cid_name),
            ("ConnectedLineNum", ch.conn_num),
            ("ConnectedLineName", ch.conn_name),
            ("Uniqueid", ch.uniqueid),
            _linked(ch),
        ]

    def newcallerid(self, ts: str, ch: Channel) -> Headers:
        """NewCallerid."""
        return [
            *_head("NewCallerid", "call", ts),
            ("Channel", ch.name),
            ("CallerIDNum", ch.cid_num),
            ("CallerIDName", ch.cid_name),
            ("Uniqueid", ch.uniqueid),
            ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)"),
            _linked(ch),
        ]

    def newexten(self, ts: str, ch: Channel, app: str, data: str) -> Headers:
        """Newexten."""
        return [
            *_head("Newexten", "dialplan", ts),
            ("Channel", ch.name),
            ("Context", ch.context),
            ("Extension", ch.exten),
            ("Priority", str(ch.priority)),
            ("Application", app),
            ("AppData", data),
            ("Uniqueid", ch.uniqueid),
        ]

    def varset(self, ts: str, ch: Channel, variable: str, value: str) -> Headers:
        """VarSet."""
        return [
            *_head("VarSet", "dialplan", ts),
            ("Channel", ch.name),
            ("Variable", variable),
            ("Value", value),
            ("Uniqueid", ch.uniqueid),
        ]

    def hangup(self, ts: str, ch: Channel, cause: int) -> Headers:
        """Hangup."""
        return [
            *_head("Hangup", "call", ts),
            ("Channel", ch.name),
            ("Uniqueid", ch.uniqueid),
            ("CallerIDNum", ch.cid_num or "<unknown>"),
            ("CallerIDName", ch.cid_name or "<unknown>"),
            ("ConnectedLineNum", ch.conn_num or "<unknown>"),
            ("ConnectedLineName", ch.conn_name or "<unknown>"),
            ("AccountCode", ch.accountcode),
            ("Cause", str(cause)),
            ("Cause-txt", CAUSE_TXT.get(cause, "Unknown")),
            _linked(ch),
        ]

    def soft_hangup(self, ts: str, ch: Channel, cause: int) -> Headers:
        """SoftHangupRequest."""
        return [
            *_head("SoftHangupRequest", "call", ts),
            ("Channel", ch.name),
            ("Uniqueid", ch.uniqueid),
            ("Cause", str(cause)),
        ]

    def device_state(self, ts: str, device: str, state: str) -> Headers | None:
        """Asterisk 11 sends no DeviceStateChange."""
        return None

    def join(self, ts: str, ch: Channel, queue: str, position: int, count: int) -> Headers:
        """Join."""
        return [
            *_head("Join", "call", ts),
            ("Channel", ch.name),
            ("CallerIDNum", ch.cid_num or "unknown"),
            ("CallerIDName", ch.cid_name or "unknown"),
            ("ConnectedLineNum", ch.conn_num or "unknown"),
            ("ConnectedLineName", ch.conn_name or "unknown"),
            ("Queue", queue),
            ("Position", str(position)),
            ("Count", str(count)),
            ("Uniqueid", ch.uniqueid),
            _linked(ch),
        ]

    def leave(self, ts: str, ch: Channel, queue: str, position: int, count: int) -> Headers:
        """Leave."""
        return [
            *_head("Leave", "call", ts),
            ("Channel", ch.name),
            ("Queue", queue),
            ("Count", str(count)),
            ("Position", str(position)),
            ("Uniqueid", ch.uniqueid),
            _linked(ch),
        ]

    def abandon(
        self, ts: str, ch: Channel, queue: str, *, position: int, original: int, hold: int
    ) -> Headers:
        """QueueCallerAbandon (no Channel in 11)."""
        return [
            *_head("QueueCallerAbandon", "agent", ts),
            ("Queue", queue),
            ("Uniqueid", ch.uniqueid),
            ("Position", str(position)),
            ("OriginalPosition", str(original)),
            ("HoldTime", str(hold)),
        ]

    def agent_called(self, ts: str, caller: Channel, agent: Channel, m: MemberView) -> Headers:
        """AgentCalled (sent because the queues have eventwhencalled=yes)."""
        return [
            *_head("AgentCalled", "agent", ts),
            ("Queue", m.queue),
            ("AgentCalled", m.interface),
            ("AgentName", m.name),
            ("ChannelCalling", caller.name),
            ("DestinationChannel", agent.name),
            ("CallerIDNum", caller.cid_num or "unknown"),
            ("CallerIDName", caller.cid_name or "unknown"),
            ("ConnectedLineNum", caller.conn_num or "unknown"),
            ("ConnectedLineName", caller.conn_name or "unknown"),
            ("Context", caller.context),
            ("Extension", caller.exten),
            ("Priority", str(caller.priority)),
            ("Uniqueid", caller.uniqueid),
        ]

    def agent_ringnoanswer(
        self, ts: str, caller: Channel, agent: Channel, m: MemberView, ring_ms: int
    ) -> Headers:
        """AgentRingNoAnswer: Channel is the CALLER, no agent channel."""
        return [
            *_head("AgentRingNoAnswer", "agent", ts),
            ("Queue", m.queue),
            ("Uniqueid", caller.uniqueid),
            ("Channel", caller.name),
            ("Member", m.interface),
            ("MemberName", m.name),
            ("RingTime", str(ring_ms)),
        ]

    def agent_connect(
        self, ts: str, caller: Channel, agent: Channel, m: MemberView, *, hold: int, ring: int
    ) -> Headers:
        """AgentConnect: Channel is the AGENT, BridgedChannel the agent's Uniqueid."""
        return [
            *_head("AgentConnect", "agent", ts),
            ("Queue", m.queue),
            ("Uniqueid", caller.uniqueid),
            ("Channel", agent.name),
            ("Member", m.interface),
            ("MemberName", m.name),
            ("HoldTime", str(hold)),
            ("BridgedChannel", agent.uniqueid),
            ("RingTime", str(ring)),
        ]

    def agent_complete(
        self,
        ts: str,
        caller: Channel,
        agent: Channel,
        m: MemberView,
        *,
        hold: int,
        talk: int,
        reason: str,
    ) -> Headers:
        """AgentComplete: Channel is the AGENT."""
        return [
            *_head("AgentComplete", "agent", ts),
            ("Queue", m.queue),
            ("Uniqueid", caller.uniqueid),
            ("Channel", agent.name),
            ("Member", m.interface),
            ("MemberName", m.name),
            ("HoldTime", str(hold)),
            ("TalkTime", str(talk)),
            ("Reason", reason),
        ]

    def member(self, name: str, ts: str, m: MemberView) -> Headers:
        """QueueMemberStatus and QueueMemberAdded (Location, no LastPause...)."""
        out = [
            *_head(name, "agent", ts),
            ("Queue", m.queue),
            ("Location", m.interface),
            ("MemberName", m.name),
            ("StateInterface", "" if name == "QueueMemberAdded" else m.interface),
            ("Membership", "dynamic"),
            ("Penalty", str(m.penalty)),
            ("CallsTaken", str(m.calls_taken)),
            ("LastCall", str(m.last_call)),
        ]
        if name != "QueueMemberAdded":
            out.append(("InCall", str(int(m.in_call))))
        out += [("Status", str(m.status)), ("Paused", str(int(m.paused)))]
        return out

    def member_pause(self, ts: str, m: MemberView) -> Headers:
        """QueueMemberPaused, with Reason only when pausing with one."""
        out = [
            *_head("QueueMemberPaused", "agent", ts),
            ("Queue", m.queue),
            ("Location", m.interface),
            ("MemberName", m.name),
            ("Paused", str(int(m.paused))),
        ]
        if m.paused and m.paused_reason:
            out.append(("Reason", m.paused_reason))
        return out

    def member_removed(self, ts: str, m: MemberView) -> Headers:
        """QueueMemberRemoved (Queue, Location, MemberName in 11)."""
        return [
            *_head("QueueMemberRemoved", "agent", ts),
            ("Queue", m.queue),
            ("Location", m.interface),
            ("MemberName", m.name),
        ]

    def originate_response(
        self,
        ts: str,
        *,
        action_id: str,
        response: str,
        channel: str,
        context: str,
        exten: str,
        reason: int,
        uniqueid: str,
        cid_num: str,
        cid_name: str,
    ) -> Headers:
        """OriginateResponse plus the linkedid ChanVariable when a channel exists."""
        out = super().originate_response(
            ts,
            action_id=action_id,
            response=response,
            channel=channel,
            context=context,
            exten=exten,
            reason=reason,
            uniqueid=uniqueid,
            cid_num=cid_num,
            cid_name=cid_name,
        )
        if response == "Success":
            out.append((f"ChanVariable({channel})", f"CHANNEL(linkedid)={uniqueid}"))
        return out

    def user_event(self, ts: str, ch: Channel, name: str, fields: Headers) -> Headers:
        """UserEvent (11: UserEvent, Uniqueid, then the fields)."""
        return [
            *_head("UserEvent", "user", ts),
            ("UserEvent", name),
            ("Uniqueid", ch.uniqueid),
            *fields,
        ]

    def fully_booted(self, uptime: int) -> Headers:
        """FullyBooted: only Status in 11."""
        return [("Event", "FullyBooted"), ("Privilege", "system,all"), ("Status", "Fully Booted")]


def dialect_for(version: str) -> Ami12:
    """``"11"`` → :class:`Ami11`, anything else → :class:`Ami12`."""
    return Ami11() if version == "11" else Ami12()
