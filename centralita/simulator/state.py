"""Mutable state of the simulated PBX: agents, memberships, queues, calls (pure data)."""

from __future__ import annotations

from dataclasses import dataclass, field

from centralita.simulator.config import QueueConfig, ServiceConfig
from centralita.simulator.dialect import Channel
from centralita.simulator.truth import TruthCall, TruthEntry


@dataclass(eq=False)
class Agent:
    """One agent (the device behind a member interface)."""

    name: str
    interface: str
    login_time: int
    calls_taken: int = 0
    last_call: int = 0
    last_pause: int = 0
    ringing: Call | None = None
    talking: Call | None = None

    @property
    def free(self) -> bool:
        """Neither ringing nor in a call."""
        return self.ringing is None and self.talking is None


@dataclass(eq=False)
class Membership:
    """An agent's membership in one queue."""

    queue: str
    agent: Agent
    paused: bool = False
    reason: str = ""
    penalty: int = 0


@dataclass(eq=False)
class QueueState:
    """One queue: members, waiting callers and Asterisk's own counters."""

    cfg: QueueConfig
    members: list[Membership] = field(default_factory=list)
    waiting: list[Call] = field(default_factory=list)
    rr_last: str = ""
    completed: int = 0
    abandoned: int = 0
    completed_in_sl: int = 0
    abandoned_in_sl: int = 0
    holdtime_avg: int = 0
    talktime_avg: int = 0

    @property
    def name(self) -> str:
        """Queue name."""
        return self.cfg.name

    def member(self, interface: str) -> Membership | None:
        """The membership of ``interface``, if any."""
        for m in self.members:
            if m.agent.interface == interface:
                return m
        return None

    def empty(self) -> bool:
        """leavewhenempty's idea of empty: no member, or every member paused."""
        return all(m.paused for m in self.members)


@dataclass(eq=False)
class Ring:
    """A member being rung for a caller."""

    agent: Agent
    membership: Membership
    chan: Channel
    chan2: Channel
    started: float
    token: int


@dataclass(eq=False)
class LeftTalk:
    """A conversation the caller was Redirected out of (12+): app_queue closes it only
    when the caller's channel hangs up (AgentComplete ``Reason: caller``, COMPLETECALLER)."""

    membership: Membership
    hold: int
    answered_at: float
    orig_pos: int


@dataclass(eq=False)
class Call:
    """A caller channel inside the PBX."""

    truth: TruthCall
    chan: Channel
    chan2: Channel
    service: ServiceConfig | None
    patience_s: float
    key_after_s: float | None = None
    dtmf: str = ""
    state: str = "ivr"  # ivr | waiting | moving | talking | done
    queue: QueueState | None = None
    joined_at: float = 0.0
    orig_pos: int = 0
    stay: int = 0
    patience_at: float = 0.0
    ring: Ring | None = None
    retry_until: float = 0.0
    agent: Agent | None = None
    agent_chan: Channel | None = None
    agent_chan2: Channel | None = None
    membership: Membership | None = None
    answered_at: float = 0.0
    left_talks: list[LeftTalk] = field(default_factory=list)

    @property
    def entry(self) -> TruthEntry:
        """The current queue stay in the truth."""
        return self.truth.entries[-1]
