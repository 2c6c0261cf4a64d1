"""Simulator configuration: queues, agents, services, behaviour (pure data).

The default configuration is the lab of the real captures (tests/fixtures): the ten
service queues with strategy rrmemory, 15 s member timeout and 2 s retry, plus q101b as the
overflow of q101, eight agents as dynamic ``Local/agentN@lab-agents`` members, and the
callers' patience classes of the captures (patient, medium, short, very short).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from centralita.simulator.exceptions import SimulatorConfigError

Dialect = Literal["11", "12"]
STRATEGIES = frozenset({"rrmemory", "linear", "leastrecent", "fewestcalls", "random"})


class _Strict(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class QueueConfig(_Strict, frozen=True, kw_only=True):
    """One queue, as queues.conf plus the dialplan's Queue() arguments."""

    name: str
    strategy: str = "rrmemory"
    member_timeout_s: float = 15.0
    retry_s: float = 2.0
    max_wait_s: float = 300.0
    overflow: str = ""
    leave_when_empty: bool = False
    exit_context: str = ""
    service_level_s: int = 20


class AgentConfig(_Strict, frozen=True, kw_only=True):
    """One agent (a dynamic queue member)."""

    name: str
    interface: str
    queues: tuple[str, ...]


class PatienceClass(_Strict, frozen=True, kw_only=True):
    """Callers of one kind: how many of them (weight) and how long they wait."""

    name: str
    weight: float
    min_s: float
    max_s: float


class ServiceConfig(_Strict, frozen=True, kw_only=True):
    """A dialed service number: its default queue and its arrival rate."""

    exten: str
    queue: str
    calls_per_min: float
    exit_key_prob: float = 0.0


class Behaviour(_Strict, frozen=True, kw_only=True):
    """How agents and callers behave (the captures' lab values by default)."""

    ring_min_s: float = 2.0
    ring_max_s: float = 7.0
    no_answer_prob: float = 0.08
    talk_min_s: float = 12.0
    talk_max_s: float = 35.0
    pause_mean_interval_s: float = 600.0
    pause_min_s: float = 20.0
    pause_max_s: float = 60.0
    pause_reason: str = "almuerzo"
    key_min_s: float = 8.0
    key_max_s: float = 14.0
    ivr_s: float = 0.002
    named_caller_prob: float = 0.3
    ivr_dtmf: tuple[str, ...] = ("1", "2", "3", "")
    patience: tuple[PatienceClass, ...] = (
        PatienceClass(name="patient", weight=0.56, min_s=150.0, max_s=280.0),
        PatienceClass(name="medium", weight=0.16, min_s=25.0, max_s=60.0),
        PatienceClass(name="short", weight=0.19, min_s=8.0, max_s=20.0),
        PatienceClass(name="very-short", weight=0.09, min_s=2.0, max_s=4.0),
    )


class OriginateConfig(_Strict, frozen=True, kw_only=True):
    """What happens to an AMI Originate (the campaign dialer's calls)."""

    answer_prob: float = 0.6
    busy_prob: float = 0.15
    congestion_prob: float = 0.05
    ring_min_s: float = 3.0
    ring_max_s: float = 20.0
    no_answer_after_s: float = 30.0


class SimConfig(_Strict, frozen=True, kw_only=True):
    """Everything a simulation run needs besides its seed."""

    queues: tuple[QueueConfig, ...]
    agents: tuple[AgentConfig, ...]
    services: tuple[ServiceConfig, ...]
    behaviour: Behaviour = Behaviour()
    originate: OriginateConfig = OriginateConfig()
    dialect: Dialect = "12"
    calls: int = 0
    start_epoch: float = 1795922040.0
    noise: bool = True
    caller_context: str = "lab-callers"
    agent_context: str = "lab-agents"
    inbound_context: str = "from-pstn"

    def queue(self, name: str) -> QueueConfig:
        """The queue called ``name``."""
        for q in self.queues:
            if q.name == name:
                return q
        raise SimulatorConfigError(f"unknown queue {name!r}")


def validate(config: SimConfig) -> SimConfig:
    """Check cross references; return the config unchanged.

    Raises:
        SimulatorConfigError: an agent, service or overflow names an unknown queue, or a
            strategy is unknown.
    """
    names = {q.name for q in config.queues}
    for q in config.queues:
        if q.strategy not in STRATEGIES:
            raise SimulatorConfigError(f"queue {q.name}: unknown strategy {q.strategy!r}")
        if q.overflow and q.overflow not in names:
            raise SimulatorConfigError(f"queue {q.name}: unknown overflow {q.overflow!r}")
    for a in config.agents:
        for qn in a.queues:
            if qn not in names:
                raise SimulatorConfigError(f"agent {a.name}: unknown queue {qn!r}")
    for s in config.services:
        if s.queue not in names:
            raise SimulatorConfigError(f"service {s.exten}: unknown queue {s.queue!r}")
    return config


_SERVICE_RATES = {
    "101": 2.4,
    "102": 2.0,
    "103": 0.6,
    "104": 0.8,
    "4200224": 0.4,
    "4251000": 0.4,
    "4522222": 0.3,
    "800131313": 0.7,
    "800130001": 0.3,
    "4639999": 0.4,
}
_AGENT_QUEUES = (
    ("q101", "q102"),
    ("q101", "q102", "q103"),
    ("q101", "q104", "q4200224"),
    ("q102", "q800131313", "q800130001", "q4522222"),
    ("q103", "q104", "q4639999", "q4522222", "q4200224"),
    ("q101", "q102", "q800131313", "q800130001", "q4251000", "q4639999"),
    ("q101b", "q102"),
    ("q101", "q101b", "q4639999"),
)


def lab_config(
    *, calls: int = 0, dialect: Dialect = "12", noise: bool = True, load: float = 1.0
) -> SimConfig:
    """The captures' lab: ten service queues, q101 overflowing to q101b after 25 s, q102
    timing out after 30 s, q103 with an exit key, q4251000 (leavewhenempty, one member),
    eight agents.

    ``load`` multiplies every arrival rate (1.0 keeps the agents busy but not swamped).
    """
    queues = [
        QueueConfig(name="q101", max_wait_s=25.0, overflow="q101b"),
        QueueConfig(name="q101b", max_wait_s=90.0),
        QueueConfig(name="q102", max_wait_s=30.0),
        QueueConfig(name="q103", exit_context="q103-exit"),
        QueueConfig(name="q104", strategy="leastrecent"),
        QueueConfig(name="q4200224", strategy="fewestcalls"),
        QueueConfig(name="q4251000", leave_when_empty=True),
        QueueConfig(name="q4522222", strategy="linear"),
        QueueConfig(name="q800131313"),
        QueueConfig(name="q800130001", strategy="random"),
        QueueConfig(name="q4639999"),
    ]
    agents = [
        AgentConfig(name=f"Agent {i}", interface=f"Local/agent{i}@lab-agents", queues=qs)
        for i, qs in enumerate(_AGENT_QUEUES, start=1)
    ]
    services = [
        ServiceConfig(
            exten=exten,
            queue=f"q{exten}",
            calls_per_min=rate * load,
            exit_key_prob=0.4 if exten == "103" else 0.0,
        )
        for exten, rate in _SERVICE_RATES.items()
    ]
    return validate(
        SimConfig(
            queues=tuple(queues),
            agents=tuple(agents),
            services=tuple(services),
            dialect=dialect,
            calls=calls,
            noise=noise,
        )
    )
