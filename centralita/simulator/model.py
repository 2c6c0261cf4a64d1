"""The simulated PBX: a seeded discrete-event engine on a virtual clock (pure, no asyncio).

``Engine(config, seed)`` generates callers (Poisson arrivals per service, a patience per
caller), runs them through the IVR step and the queues (strategy, member timeout, retry,
overflow on timeout, leave-when-empty, exit key), lets agents ring, miss calls, talk and
pause, and produces, in order:

- the AMI events Asterisk would send (``engine.drain()``: ordered header lists with
  ``Timestamp`` headers from the virtual clock), in the dialect asked for;
- the queue_log lines (``engine.queue_log``);
- the ground truth of every call (``engine.truth``).

Time only moves through :meth:`Engine.advance`; the same seed and the same calls of the
public methods give a byte-identical event stream. External actions (QueueAdd, QueuePause,
Originate, a PBX restart) are methods that act at the current virtual time.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from centralita.simulator.config import QueueConfig, ServiceConfig, SimConfig, validate
from centralita.simulator.dialect import Channel, Headers, MemberView, dialect_for
from centralita.simulator.state import Agent, Call, LeftTalk, Membership, QueueState, Ring
from centralita.simulator.truth import OriginateTruth, Truth, TruthCall, TruthEntry

_NAMES = (
    "José Peña",
    "Ñusta Quispe",
    "Señora Müller",
    "María Gutiérrez",
    "Zoë Álvarez",
    "Ángela Cóndor",
    "Juan Pérez",
    "Luis Gutierrez",
    "Ana Flores",
    "Iñaki Ibáñez",
)
_EMIT_STEP_S = 0.000007


@dataclass(frozen=True, slots=True)
class AgiRequest:
    """An inbound call waiting for its FastAGI session (``env`` is the agi_* block)."""

    uniqueid: str
    env: dict[str, str]
    dtmf: str


@dataclass(frozen=True, slots=True)
class AgiResult:
    """What the FastAGI session decided: AGISTATUS and the queue (``""`` = default)."""

    status: str = "SUCCESS"
    queue: str = ""


class Engine:
    """The PBX model. See the module docstring."""

    def __init__(self, config: SimConfig, seed: int, *, agi: bool = False) -> None:
        self.config = validate(config)
        self.seed = seed
        self.ami = dialect_for(config.dialect)
        self.noise = config.noise
        self.agi = agi
        self.rng_calls = random.Random(f"{seed}/calls")
        self.rng_agents = random.Random(f"{seed}/agents")
        self.rng_misc = random.Random(f"{seed}/misc")
        self.now = config.start_epoch
        self.boot_at = config.start_epoch
        self.last_ts = config.start_epoch
        self.truth = Truth(seed=seed, dialect=config.dialect)
        self.queue_log: list[str] = []
        self.queue_log_sink: Callable[[str], None] | None = None
        self.agi_requests: list[AgiRequest] = []
        self._out: list[Headers] = []
        self._heap: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = 0
        self._chan_counter = 0
        self._local_seq = 0
        self._ring_token = 0
        self._shutting_down = False
        self.generated = 0
        self.active: dict[str, Call] = {}
        self.agents: dict[str, Agent] = {}
        self.queues: dict[str, QueueState] = {q.name: QueueState(q) for q in config.queues}
        self._originates_pending = 0
        self._qlog("NONE", "NONE", "NONE", "QUEUESTART", "")
        for a in config.agents:
            for qn in a.queues:
                self.add_member(qn, a.interface, a.name)
        self._start_generators()

    # ------------------------------------------------------------------ clock, output
    def schedule(self, at: float, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` at virtual time ``at`` (never in the past)."""
        self._seq += 1
        heapq.heappush(self._heap, (max(at, self.now), self._seq, fn, args))

    def next_time(self) -> float | None:
        """Virtual time of the next scheduled happening."""
        return self._heap[0][0] if self._heap else None

    def advance(self, until: float) -> None:
        """Run everything scheduled up to ``until``; the clock ends at ``until``."""
        heap = self._heap
        while heap and heap[0][0] <= until:
            at, _, fn, args = heapq.heappop(heap)
            self.now = max(self.now, at)
            fn(*args)
        self.now = max(self.now, until)

    @property
    def done(self) -> bool:
        """All requested calls generated and finished (never true when calls == 0)."""
        return (
            self.config.calls > 0
            and self.generated >= self.config.calls
            and not self.active
            and self._originates_pending == 0
        )

    def run(self, max_events: int | None = None) -> list[Headers]:
        """Advance until :attr:`done` (or the heap runs dry); return every event."""
        out: list[Headers] = []
        while not self.done:
            nxt = self.next_time()
            if nxt is None:
                break
            self.advance(nxt)
            out.extend(self.drain())
            if max_events is not None and len(out) >= max_events:
                break
        return out

    def drain(self) -> list[Headers]:
        """Events emitted since the last drain, in order."""
        out, self._out = self._out, []
        return out

    def _ts(self) -> str:
        t = max(self.now, self.last_ts + _EMIT_STEP_S)
        self.last_ts = t
        return f"{t:.6f}"

    def _emit(self, headers: Headers | None) -> None:
        if headers is not None:
            self._out.append(headers)

    def _qlog(self, callid: str, queue: str, agent: str, verb: str, *data: str) -> None:
        fields = "|".join(data)
        line = f"{int(self.now)}|{callid}|{queue}|{agent}|{verb}|{fields}"
        self.queue_log.append(line)
        if self.queue_log_sink is not None:
            self.queue_log_sink(line)

    def write_queue_log(self, path: str) -> None:
        """Write the queue_log so far."""
        from centralita.simulator.truth import write_queue_log

        write_queue_log(self.queue_log, path)

    # ------------------------------------------------------------------ channels
    def _uid(self) -> str:
        uid = f"{int(self.now)}.{self._chan_counter}"
        self._chan_counter += 1
        return uid

    def _local_pair(self, exten: str, context: str, linkedid: str = "") -> tuple[Channel, Channel]:
        base = f"Local/{exten}@{context}-{self._local_seq:08x}"
        self._local_seq += 1
        u1, u2 = self._uid(), self._uid()
        link = linkedid or u1
        return (
            Channel(base + ";1", u1, link, context, exten, created=self.now),
            Channel(base + ";2", u2, link, context, exten, state=4, created=self.now),
        )

    def _noise_new(self, *chans: Channel) -> None:
        if self.noise:
            for ch in chans:
                self._emit(self.ami.channel_event("Newchannel", self._ts(), ch))

    def _noise_state(self, ch: Channel, state: int) -> None:
        ch.state = state
        if self.noise:
            self._emit(self.ami.channel_event("Newstate", self._ts(), ch))

    def _noise_var(self, ch: Channel, variable: str, value: str) -> None:
        if self.noise:
            self._emit(self.ami.varset(self._ts(), ch, variable, value))

    def _noise_exten(self, ch: Channel, priority: int, app: str, data: str) -> None:
        ch.priority = priority
        if self.noise:
            self._emit(self.ami.newexten(self._ts(), ch, app, data))

    def _noise_device(self, device: str, state: str) -> None:
        if self.noise:
            self._emit(self.ami.device_state(self._ts(), device, state))

    def _hangup(self, ch: Channel, cause: int) -> None:
        if self.noise:
            self._emit(self.ami.soft_hangup(self._ts(), ch, cause))
            self._emit(self.ami.hangup(self._ts(), ch, cause))

    # ------------------------------------------------------------------ generators
    def _start_generators(self) -> None:
        for svc in self.config.services:
            if svc.calls_per_min > 0:
                gap = self.rng_calls.expovariate(svc.calls_per_min / 60.0)
                self.schedule(self.now + gap, self._arrival, svc)
        b = self.config.behaviour
        if b.pause_mean_interval_s > 0:
            for agent in self.agents.values():
                gap = self.rng_agents.expovariate(1.0 / b.pause_mean_interval_s)
                self.schedule(self.now + gap, self._pause_cycle, agent.interface, True)

    def _arrival(self, svc: ServiceConfig) -> None:
        limit = self.config.calls
        if limit and self.generated >= limit:
            return
        self.generated += 1
        rng = self.rng_calls
        self.schedule(self.now + rng.expovariate(svc.calls_per_min / 60.0), self._arrival, svc)
        self._inbound(svc, rng)

    def _draw_patience(self, rng: random.Random) -> tuple[str, float]:
        classes = self.config.behaviour.patience
        pc = rng.choices(classes, weights=[c.weight for c in classes])[0]
        return pc.name, round(rng.uniform(pc.min_s, pc.max_s), 3)

    def _draw_caller(self, rng: random.Random) -> tuple[str, str]:
        kind = rng.randrange(4)
        prefix = ("4", "2", "6", "7")[kind]
        digits = 6 if kind < 2 else 7
        num = prefix + "".join(str(rng.randrange(10)) for _ in range(digits))
        named = rng.random() < self.config.behaviour.named_caller_prob
        return num, rng.choice(_NAMES) if named else ""

    def _inbound(self, svc: ServiceConfig, rng: random.Random) -> None:
        b = self.config.behaviour
        pclass, patience = self._draw_patience(rng)
        num, name = self._draw_caller(rng)
        key_after = (
            round(rng.uniform(b.key_min_s, b.key_max_s), 3)
            if svc.exit_key_prob and rng.random() < svc.exit_key_prob
            else None
        )
        dtmf = rng.choice(b.ivr_dtmf) if b.ivr_dtmf else ""
        c1, c2 = self._local_pair(str(int(patience)), self.config.caller_context)
        for ch in (c1, c2):
            ch.cid_num = ch.conn_num = num
            ch.cid_name = ch.conn_name = name
        truth = TruthCall(
            uniqueid=c1.uniqueid,
            channel=c1.name,
            service=svc.exten,
            caller_num=num,
            caller_name=name,
            arrived_at=round(self.now, 6),
            patience_s=patience,
            patience_class=pclass,
        )
        self.truth.calls.append(truth)
        call = Call(truth, c1, c2, svc, patience, key_after, dtmf)
        self.active[c1.uniqueid] = call
        self._noise_new(c1, c2)
        if self.noise:
            self._emit(self.ami.newcallerid(self._ts(), c1))
        self._noise_state(c2, 6)
        c1.context, c1.exten, c1.language = self.config.inbound_context, svc.exten, "es"
        self._noise_state(c1, 6)
        self._noise_exten(c1, 1, "Answer", "")
        self._noise_exten(c1, 2, "Set", "CHANNEL(language)=es")
        self._noise_exten(c1, 3, "Set", f"SERVICE={svc.exten}")
        self._noise_var(c1, "SERVICE", svc.exten)
        self._noise_exten(c1, 4, "TryExec", f"AGI(agi://127.0.0.1:4573/ivr?service={svc.exten})")
        if self.agi:
            self.agi_requests.append(AgiRequest(c1.uniqueid, self._agi_env(c1), dtmf))
        else:
            self.schedule(self.now + b.ivr_s, self.agi_finished, c1.uniqueid, AgiResult("FAILURE"))

    def _agi_env(self, ch: Channel) -> dict[str, str]:
        return {
            "agi_network": "yes",
            "agi_network_script": f"ivr?service={ch.exten}",
            "agi_channel": ch.name,
            "agi_language": ch.language,
            "agi_type": "Local",
            "agi_uniqueid": ch.uniqueid,
            "agi_version": "11.25.3" if self.config.dialect == "11" else "13.0.0",
            "agi_callerid": ch.cid_num or "unknown",
            "agi_calleridname": ch.cid_name or "unknown",
            "agi_callingpres": "0",
            "agi_callingani2": "0",
            "agi_callington": "0",
            "agi_callingtns": "0",
            "agi_dnid": ch.exten,
            "agi_rdnis": "unknown",
            "agi_context": ch.context,
            "agi_extension": ch.exten,
            "agi_priority": str(ch.priority),
            "agi_enhanced": "0.0",
            "agi_accountcode": "",
            "agi_threadid": str(1000 + self._chan_counter),
        }

    # ------------------------------------------------------------------ IVR results
    def user_event(self, uniqueid: str, name: str, fields: list[tuple[str, str]]) -> bool:
        """Emit a UserEvent for a live channel (AGI ``EXEC UserEvent``)."""
        call = self.active.get(uniqueid)
        if call is None:
            return False
        self._emit(self.ami.user_event(self._ts(), call.chan, name, fields))
        if name == "CentralitaIvr":
            call.truth.ivr = dict(fields)
        return True

    def agi_finished(self, uniqueid: str, result: AgiResult) -> None:
        """The IVR step of a call is over: go on to the queue (or hang up)."""
        call = self.active.get(uniqueid)
        if call is None or call.state != "ivr":
            return
        c1 = call.chan
        self._noise_var(c1, "AGISTATUS", result.status)
        if result.status == "HANGUP":
            call.truth.outcome = "ivr-hangup"
            self._finish(call)
            return
        self._noise_var(c1, "TRYSTATUS", "SUCCESS")
        self._noise_exten(c1, 5, "NoOp", f"AGISTATUS={result.status} TRYSTATUS=SUCCESS")
        default = call.service.queue if call.service is not None else ""
        queue = result.queue if result.queue in self.queues else default
        self._join(call, self.queues[queue], 6)

    # ------------------------------------------------------------------ queue logic
    def _join(self, call: Call, qs: QueueState, priority: int) -> None:
        if call.state in ("done",):
            return
        c1 = call.chan
        cfg = qs.cfg
        self._noise_exten(c1, priority, "Queue", f"{cfg.name},t,,,{int(cfg.max_wait_s)}")
        if self.noise and self.config.dialect != "11":
            for var in ("ANSWEREDTIME", "DIALEDTIME", "QUEUEWAIT"):
                self._noise_var(c1, var, "")
        qs.waiting.append(call)
        pos = len(qs.waiting)
        self._emit(self.ami.join(self._ts(), c1, cfg.name, pos, pos))
        call.state = "waiting"
        call.queue = qs
        call.joined_at = self.last_ts
        call.orig_pos = pos
        call.stay += 1
        call.retry_until = 0.0
        call.truth.entries.append(TruthEntry(queue=cfg.name, entered_at=round(self.last_ts, 6)))
        if len(call.truth.entries) == 1:
            call.patience_at = self.last_ts + call.patience_s
            self.schedule(call.patience_at, self._patience_over, call)
        self.schedule(self.now + cfg.max_wait_s, self._queue_timeout, call, call.stay)
        if call.key_after_s is not None and cfg.exit_context:
            self.schedule(self.now + call.key_after_s, self._key_press, call, call.stay)
        self._qlog(c1.uniqueid, cfg.name, "NONE", "ENTERQUEUE", "", c1.cid_num, str(pos))
        self._dispatch()
        self._check_empty(qs)

    def _dispatch(self) -> None:
        if self._shutting_down:
            return
        for qs in self.queues.values():
            for call in list(qs.waiting):
                if call.ring is not None or call.retry_until > self.now:
                    continue
                m = self._pick(qs)
                if m is None:
                    break
                self._ring(call, qs, m)

    def _pick(self, qs: QueueState) -> Membership | None:
        free = [m for m in qs.members if not m.paused and m.agent.free]
        if not free:
            return None
        strategy = qs.cfg.strategy
        if strategy == "linear":
            chosen = free[0]
        elif strategy == "leastrecent":
            chosen = min(free, key=lambda m: m.agent.last_call)
        elif strategy == "fewestcalls":
            chosen = min(free, key=lambda m: m.agent.calls_taken)
        elif strategy == "random":
            chosen = self.rng_agents.choice(free)
        else:  # rrmemory: the next member after the last one rung
            order = [m.agent.interface for m in qs.members]
            start = order.index(qs.rr_last) + 1 if qs.rr_last in order else 0
            rotated = order[start:] + order[:start]
            chosen = min(free, key=lambda m: rotated.index(m.agent.interface))
        qs.rr_last = chosen.agent.interface
        return chosen

    def member_view(self, m: Membership) -> MemberView:
        """A membership as the member events and QueueStatus show it."""
        a = m.agent
        return MemberView(
            queue=m.queue,
            name=a.name,
            interface=a.interface,
            calls_taken=a.calls_taken,
            last_call=a.last_call,
            last_pause=a.last_pause,
            login_time=a.login_time,
            in_call=a.talking is not None,
            status=1 if a.free else 2,
            paused=m.paused,
            paused_reason=m.reason,
            penalty=m.penalty,
        )

    def _member_status(self, agent: Agent) -> None:
        for qs in self.queues.values():
            m = qs.member(agent.interface)
            if m is not None:
                self._emit(self.ami.member("QueueMemberStatus", self._ts(), self.member_view(m)))

    def _agent_pair(self, agent: Agent, caller: Channel) -> tuple[Channel, Channel]:
        iface = agent.interface
        if iface.startswith("Local/") and "@" in iface:
            exten, context = iface[len("Local/") :].split("@", 1)
            a1, a2 = self._local_pair(exten, context, caller.uniqueid)
        else:
            base = f"{iface}-{self._local_seq:08x}"
            self._local_seq += 1
            uid = self._uid()
            a1 = Channel(base, uid, caller.uniqueid, self.config.agent_context, caller.exten)
            a2 = Channel(base, uid, caller.uniqueid, self.config.agent_context, caller.exten)
            a1.created = a2.created = self.now
        for ch in (a1, a2):
            ch.cid_num, ch.cid_name = caller.cid_num, caller.cid_name
            ch.conn_num, ch.conn_name = caller.cid_num, caller.cid_name
        a1.exten = caller.exten
        return a1, a2

    def _ring(self, call: Call, qs: QueueState, m: Membership) -> None:
        agent = m.agent
        a1, a2 = self._agent_pair(agent, call.chan)
        self._noise_new(a1, a2)
        self._emit(self.ami.agent_called(self._ts(), call.chan, a1, self.member_view(m)))
        self._ring_token += 1
        call.ring = Ring(agent, m, a1, a2, self.now, self._ring_token)
        agent.ringing = call
        self._noise_state(a1, 5)
        self._member_status(agent)
        self._noise_device(agent.interface, "INUSE")
        b = self.config.behaviour
        rng = self.rng_agents
        ring_s = 1e9 if rng.random() < b.no_answer_prob else rng.uniform(b.ring_min_s, b.ring_max_s)
        if ring_s >= qs.cfg.member_timeout_s:
            self.schedule(self.now + qs.cfg.member_timeout_s, self._ring_timeout, call, call.ring)
        else:
            self.schedule(self.now + ring_s, self._answer, call, call.ring)

    def _end_ring(self, call: Call) -> None:
        ring = call.ring
        if ring is None:
            return
        call.ring = None
        ring.agent.ringing = None
        self._hangup(ring.chan2, 0)
        self._hangup(ring.chan, 0)
        self._member_status(ring.agent)
        self._noise_device(ring.agent.interface, "NOT_INUSE")

    def _ring_no_answer(self, call: Call) -> None:
        ring = call.ring
        assert ring is not None
        ring_ms = round((self.now - ring.started) * 1000)
        mv = self.member_view(ring.membership)
        self._emit(self.ami.agent_ringnoanswer(self._ts(), call.chan, ring.chan, mv, ring_ms))
        self._qlog(call.chan.uniqueid, mv.queue, mv.name, "RINGNOANSWER", str(ring_ms))
        call.entry.ring_no_answer += 1
        self._end_ring(call)

    def _ring_timeout(self, call: Call, ring: Ring) -> None:
        if call.ring is not ring or call.state != "waiting":
            return
        assert call.queue is not None
        self._ring_no_answer(call)
        call.retry_until = self.now + call.queue.cfg.retry_s
        self.schedule(call.retry_until, self._dispatch)
        self._dispatch()

    def _answer(self, call: Call, ring: Ring) -> None:
        if call.ring is not ring or call.state != "waiting":
            return
        qs = call.queue
        assert qs is not None
        agent, c1 = ring.agent, call.chan
        self._noise_state(ring.chan2, 6)
        self._noise_state(ring.chan, 6)
        pos = qs.waiting.index(call) + 1
        qs.waiting.remove(call)
        hold = int(self.now) - int(call.joined_at)
        self._noise_var(c1, "QEHOLDTIME", str(hold))
        self._emit(self.ami.leave(self._ts(), c1, qs.name, pos, len(qs.waiting)))
        mv = self.member_view(ring.membership)
        ring_s = int(self.now) - int(ring.started)
        self._emit(self.ami.agent_connect(self._ts(), c1, ring.chan, mv, hold=hold, ring=ring_s))
        answered = self.last_ts
        self._qlog(
            c1.uniqueid, qs.name, mv.name, "CONNECT", str(hold), ring.chan.uniqueid, str(ring_s)
        )
        call.ring = None
        agent.ringing = None
        agent.talking = call
        call.state = "talking"
        call.agent, call.agent_chan, call.agent_chan2 = agent, ring.chan, ring.chan2
        call.membership = ring.membership
        call.answered_at = answered
        entry = call.entry
        entry.left_at = round(answered, 6)
        entry.outcome = "answered"
        entry.agent_interface, entry.agent_name = agent.interface, agent.name
        t = call.truth
        t.answered_at, t.outcome = round(answered, 6), "answered"
        t.agent_interface, t.agent_name = agent.interface, agent.name
        qs.holdtime_avg = (3 * qs.holdtime_avg + hold) // 4
        if hold <= qs.cfg.service_level_s:
            qs.completed_in_sl += 1
        if self.config.dialect == "11":
            self._member_status(agent)
        self._noise_var(c1, "BRIDGEPEER", ring.chan.name)
        b = self.config.behaviour
        end = self.now + self.rng_agents.uniform(b.talk_min_s, b.talk_max_s)
        if call.patience_at < end:
            self.schedule(call.patience_at, self._complete_stay, call, "caller", call.stay)
        else:
            self.schedule(end, self._complete_stay, call, "agent", call.stay)
        self._dispatch()

    def _complete_stay(self, call: Call, reason: str, stay: int) -> None:
        """The end of the talk planned at the answer, unless the caller has since been
        redirected (a later stay is another conversation)."""
        if call.stay == stay:
            self._complete(call, reason)

    def _complete(self, call: Call, reason: str, *, caller_goes_on: bool = False) -> None:
        if call.state != "talking":
            return
        qs, agent, a1, a2 = call.queue, call.agent, call.agent_chan, call.agent_chan2
        assert qs is not None
        assert agent is not None
        assert a1 is not None
        assert a2 is not None
        assert call.membership is not None
        hold = int(call.answered_at) - int(call.joined_at)
        talk = int(self.now) - int(call.answered_at)
        mv = self.member_view(call.membership)
        self._emit(
            self.ami.agent_complete(
                self._ts(), call.chan, a1, mv, hold=hold, talk=talk, reason=reason
            )
        )
        if reason == "transfer":  # Asterisk 11: the caller's context/exten changed
            c1 = call.chan
            self._qlog(
                c1.uniqueid, qs.name, mv.name, "TRANSFER", c1.exten, c1.context,
                str(hold), str(talk), str(call.orig_pos),
            )  # fmt: skip
        else:
            verb = "COMPLETEAGENT" if reason == "agent" else "COMPLETECALLER"
            self._qlog(
                call.chan.uniqueid, qs.name, mv.name, verb, str(hold), str(talk), str(call.orig_pos)
            )
        qs.completed += 1
        qs.talktime_avg = (3 * qs.talktime_avg + talk) // 4
        self._agent_freed(agent, a1, a2)
        if caller_goes_on:
            call.state = "moving"
            call.agent = call.agent_chan = call.agent_chan2 = call.membership = None
        else:
            self._finish(call)
        self._dispatch()

    def _agent_freed(self, agent: Agent, a1: Channel, a2: Channel) -> None:
        """The agent's legs of a call hang up and the member is free again."""
        agent.talking = None
        agent.calls_taken += 1
        agent.last_call = int(self.now)
        self._hangup(a2, 16)
        self._hangup(a1, 16)
        self._member_status(agent)
        self._noise_device(agent.interface, "NOT_INUSE")

    def _finish(self, call: Call, cause: int = 16) -> None:
        """The caller channel hangs up: the call is over."""
        call.state = "done"
        for left in call.left_talks:  # 12+: the stays the caller was Redirected out of
            mv = self.member_view(left.membership)
            talk = int(self.now) - int(left.answered_at)
            self._emit(
                self.ami.agent_complete_late(self._ts(), call.chan, mv, hold=left.hold, talk=talk)
            )
            self._qlog(
                call.chan.uniqueid, mv.queue, mv.name, "COMPLETECALLER",
                str(left.hold), str(talk), str(left.orig_pos),
            )  # fmt: skip
            qs = self.queues.get(mv.queue)
            if qs is not None:
                qs.completed += 1
                qs.talktime_avg = (3 * qs.talktime_avg + talk) // 4
        call.left_talks.clear()
        self._hangup(call.chan2, cause)
        self._emit(self.ami.hangup(self._ts(), call.chan, cause))
        call.truth.ended_at = round(self.last_ts, 6)
        self.active.pop(call.chan.uniqueid, None)

    def _leave_unanswered(self, call: Call, outcome: str, status: str) -> tuple[int, int, int]:
        """Abandon + Leave (+ QUEUESTATUS) for a caller leaving without an answer."""
        qs = call.queue
        assert qs is not None
        c1 = call.chan
        pos = qs.waiting.index(call) + 1
        hold = int(self.now) - int(call.joined_at)
        if status == "" and self.noise and self.config.dialect != "11":
            self._noise_var(c1, "QUEUEWAIT", str(hold))
        left = 0.0
        if outcome != "exit-with-key":
            self._emit(
                self.ami.abandon(
                    self._ts(), c1, qs.name, position=pos, original=call.orig_pos, hold=hold
                )
            )
            left = self.last_ts
            qs.abandoned += 1
            if hold <= qs.cfg.service_level_s:
                qs.abandoned_in_sl += 1
        qs.waiting.remove(call)
        if status and self.noise and self.config.dialect != "11":
            self._noise_var(c1, "QUEUEWAIT", str(hold))
        self._emit(self.ami.leave(self._ts(), c1, qs.name, pos, len(qs.waiting)))
        if outcome == "exit-with-key":
            left = self.last_ts
        self._noise_var(c1, "QUEUEPOSITION", str(pos))
        if status:
            self._emit(self.ami.varset(self._ts(), c1, "QUEUESTATUS", status))
        entry = call.entry
        entry.left_at = round(left, 6)
        entry.outcome = outcome
        call.truth.outcome = outcome
        call.state = "moving"
        return pos, call.orig_pos, hold

    def _patience_over(self, call: Call) -> None:
        if call.state == "moving":
            self.schedule(self.now + 0.002, self._patience_over, call)
            return
        if call.state != "waiting":
            return
        qs = call.queue
        assert qs is not None
        if call.ring is not None:
            ring = call.ring
            ring_ms = round((self.now - ring.started) * 1000)
            if self.config.dialect != "11":
                name = ring.agent.name
                self._qlog(call.chan.uniqueid, qs.name, name, "RINGCANCELED", str(ring_ms))
            self._end_ring(call)
        pos, orig, hold = self._leave_unanswered(call, "abandoned", "")
        self._qlog(call.chan.uniqueid, qs.name, "NONE", "ABANDON", str(pos), str(orig), str(hold))
        self._finish(call)
        self._dispatch()

    def _queue_timeout(self, call: Call, stay: int) -> None:
        if call.state != "waiting" or call.stay != stay:
            return
        qs = call.queue
        assert qs is not None
        if call.ring is not None:
            self._ring_no_answer(call)
        pos, orig, hold = self._leave_unanswered(call, "timeout", "TIMEOUT")
        uid = call.chan.uniqueid
        self._qlog(uid, qs.name, "NONE", "EXITWITHTIMEOUT", str(pos), str(orig), str(hold))
        if qs.cfg.overflow:
            self._noise_exten(call.chan, 7, "Set", f"SERVICE={qs.cfg.overflow}")
            self.schedule(self.now + 0.001, self._join, call, self.queues[qs.cfg.overflow], 8)
        else:
            self._noise_exten(call.chan, call.chan.priority + 1, "Hangup", "")
            self._finish(call)
        self._dispatch()

    def _check_empty(self, qs: QueueState) -> None:
        if not qs.cfg.leave_when_empty or not qs.empty():
            return
        for call in qs.waiting:
            if call.ring is None:
                delay = self.rng_misc.uniform(0.01, 0.9)
                self.schedule(self.now + delay, self._exit_empty, call, call.stay)

    def _exit_empty(self, call: Call, stay: int) -> None:
        qs = call.queue
        if call.state != "waiting" or call.stay != stay or call.ring is not None or qs is None:
            return
        if not qs.empty():
            return
        pos, orig, hold = self._leave_unanswered(call, "exit-empty", "LEAVEEMPTY")
        uid = call.chan.uniqueid
        self._qlog(uid, qs.name, "NONE", "EXITEMPTY", str(pos), str(orig), str(hold))
        self._finish(call)

    def _key_press(self, call: Call, stay: int) -> None:
        qs = call.queue
        if call.state != "waiting" or call.stay != stay or call.ring is not None or qs is None:
            return
        c1 = call.chan
        c1.context, c1.exten, c1.priority = qs.cfg.exit_context, "1", 0
        pos, orig, hold = self._leave_unanswered(call, "exit-with-key", "")
        self._qlog(c1.uniqueid, qs.name, "NONE", "EXITWITHKEY", "1", str(pos), str(orig), str(hold))
        self._noise_exten(c1, 1, "NoOp", "exit key")
        self.schedule(self.now + 2.0, self._finish, call)

    # ------------------------------------------------------------------ members (AMI)
    def add_member(
        self, queue: str, interface: str, name: str = "", penalty: int = 0, paused: bool = False
    ) -> bool:
        """QueueAdd: False when the queue is unknown or the interface already there."""
        qs = self.queues.get(queue)
        if qs is None or qs.member(interface) is not None:
            return False
        agent = self.agents.get(interface)
        if agent is None:
            agent = Agent(name or interface, interface, int(self.now))
            self.agents[interface] = agent
        m = Membership(queue, agent, paused=paused, penalty=penalty)
        qs.members.append(m)
        self._emit(self.ami.member("QueueMemberAdded", self._ts(), self.member_view(m)))
        self._qlog("MANAGER", queue, interface, "ADDMEMBER", "")
        self._noise_device(f"Queue:{queue}_avail", "NOT_INUSE")
        self._dispatch()
        return True

    def remove_member(self, queue: str, interface: str) -> bool:
        """QueueRemove: False when not a member."""
        qs = self.queues.get(queue)
        m = qs.member(interface) if qs is not None else None
        if qs is None or m is None:
            return False
        qs.members.remove(m)
        self._emit(self.ami.member_removed(self._ts(), self.member_view(m)))
        self._qlog("MANAGER", queue, interface, "REMOVEMEMBER", "")
        self._check_empty(qs)
        return True

    def pause_member(self, interface: str, paused: bool, queue: str = "", reason: str = "") -> bool:
        """QueuePause in one queue or (no queue) in all the agent's queues."""
        agent = self.agents.get(interface)
        targets = [
            m
            for qs in self.queues.values()
            if (not queue or qs.name == queue) and (m := qs.member(interface)) is not None
        ]
        if agent is None or not targets:
            return False
        if paused:
            agent.last_pause = int(self.now)
        if not queue:
            verb = "PAUSEALL" if paused else "UNPAUSEALL"
            if self.config.dialect == "11":
                self._qlog("NONE", "NONE", interface, verb, "")
            else:
                self._qlog("NONE", "NONE", agent.name, verb, reason if paused else "")
        for m in targets:
            m.paused, m.reason = paused, reason if paused else ""
            self._emit(self.ami.member_pause(self._ts(), self.member_view(m)))
            self._qlog("NONE", m.queue, agent.name, "PAUSE" if paused else "UNPAUSE", m.reason)
        if paused:
            for m in targets:
                self._check_empty(self.queues[m.queue])
        else:
            self._dispatch()
        return True

    def _pause_cycle(self, interface: str, pause: bool) -> None:
        b = self.config.behaviour
        rng = self.rng_agents
        self.pause_member(interface, pause, reason=b.pause_reason if pause else "")
        if pause:
            self.schedule(
                self.now + rng.uniform(b.pause_min_s, b.pause_max_s),
                self._pause_cycle,
                interface,
                False,
            )
        else:
            gap = rng.expovariate(1.0 / b.pause_mean_interval_s)
            self.schedule(self.now + gap, self._pause_cycle, interface, True)

    # ------------------------------------------------------------------ faults
    def restart(self, down_s: float = 0.0) -> None:
        """A PBX reboot, as the clients of the old process see it.

        Emits no AMI event and no queue_log end line for the calls in progress (their
        channels vanish); the truth marks them ``lost=True``, outcome ``lost``,
        ``ended_at`` = now. Then the PBX boots (see :meth:`_boot`): queue_log
        ``QUEUESTART``, fresh queue counters, members kept (persistent) with their
        per-member counters reset, new channel numbering, and FullyBooted's Uptime counted
        from the new start.
        """
        for call in self.active.values():
            call.truth.lost = True
            call.truth.outcome = "lost"
            call.truth.ended_at = round(self.now, 6)
            call.state = "done"
        self.truth.restarts.append(round(self.now, 6))
        self._boot(down_s)

    def hang_up_all(self) -> None:
        """``core restart now``: every channel is hung up, with the events and queue_log
        lines of each hang-up (no new ring starts meanwhile). A waiting caller abandons
        (QueueCallerAbandon + Leave, queue_log ABANDON, and RINGCANCELED if an agent was
        ringing, 12+), an answered call completes (AgentComplete, COMPLETECALLER), a
        caller in the IVR or between two queues hangs up; all with their Hangup. The truth
        records them as ended that way (nothing ``lost``)."""
        self._shutting_down = True
        try:
            for call in list(self.active.values()):
                if call.state == "waiting":
                    self._patience_over(call)
                elif call.state == "talking":
                    self._complete(call, "caller")
                elif call.state != "done":
                    if call.state == "ivr":
                        call.truth.outcome = "ivr-hangup"
                    elif call.truth.outcome is None:
                        call.truth.outcome = "abandoned"
                    self._finish(call)
        finally:
            self._shutting_down = False

    def crash(self, down_s: float = 0.0) -> None:
        """The PBX process dies at once and is started again (``safe_asterisk``).

        Nothing is written for the calls in progress: no Hangup, Leave or AgentComplete
        event and no queue_log end line (a dead process writes nothing). In the truth every
        such call gets ``cut=True`` and ``ended_at`` = the crash time; a caller who had not
        been answered (waiting, ringing, in the IVR, between two queues) gets outcome
        ``cut`` and its open queue stay ends then with outcome ``cut``; an answered call
        keeps ``answered`` (and a key exit already taken keeps ``exit-with-key``). Then the
        PBX boots as after :meth:`restart`.
        """
        at = round(self.now, 6)
        for call in self.active.values():
            t = call.truth
            t.cut = True
            t.ended_at = at
            if call.state == "waiting":
                call.entry.left_at = at
                call.entry.outcome = "cut"
            if t.answered_at is None and t.outcome != "exit-with-key":
                t.outcome = "cut"
            call.state = "done"
        self.truth.crashes.append(at)
        self._boot(down_s)

    def _boot(self, down_s: float) -> None:
        """Start the PBX again after a restart or a crash, ``down_s`` later (the clock
        also moves to the next whole second: a boot takes time, and the new channel
        numbering must not repeat a Uniqueid of the old process)."""
        for o in self.truth.originates:
            if o.outcome == "pending":
                o.outcome = "lost"
        self.active.clear()
        self._heap.clear()
        self._out.clear()
        self._originates_pending = 0
        self.agi_requests.clear()
        self.now = max(self.now + max(down_s, 0.0), float(int(self.now) + 1))
        self.boot_at = self.now
        for agent in self.agents.values():
            agent.ringing = agent.talking = None
            agent.calls_taken = agent.last_call = agent.last_pause = 0
            agent.login_time = int(self.now)
        for name, qs in list(self.queues.items()):
            fresh = QueueState(qs.cfg, members=qs.members)
            self.queues[name] = fresh
        self._chan_counter = 0
        self._local_seq = 0
        self._qlog("NONE", "NONE", "NONE", "QUEUESTART", "")
        self._start_generators()
        for agent in self.agents.values():
            if any(m.paused for qs in self.queues.values() if (m := qs.member(agent.interface))):
                self.schedule(self.now + 30.0, self._pause_cycle, agent.interface, False)

    def live_channels(self) -> list[tuple[Channel, Channel | None]]:
        """Every channel that exists now, with the channel it is bridged to (if any): the
        callers' pairs, and the agents' while they ring or talk. Creation order."""
        out: list[tuple[Channel, Channel | None]] = []
        for call in self.active.values():
            talking = call.state == "talking" and call.agent_chan is not None
            out.append((call.chan, call.agent_chan if talking else None))
            out.append((call.chan2, None))
            if call.ring is not None:
                out += [(call.ring.chan, None), (call.ring.chan2, None)]
            elif talking and call.agent_chan is not None and call.agent_chan2 is not None:
                out += [(call.agent_chan, call.chan), (call.agent_chan2, None)]
        seen: set[tuple[str, str]] = set()
        unique = []
        for ch, peer in out:
            if (ch.name, ch.uniqueid) not in seen:  # a non-Local agent's two legs are one
                seen.add((ch.name, ch.uniqueid))
                unique.append((ch, peer))
        unique.sort(key=lambda pair: pair[0].created)
        return unique

    def fully_booted(self) -> Headers:
        """The FullyBooted event a new AMI session gets."""
        return self.ami.fully_booted(max(1, int(self.now - self.boot_at)))

    # ------------------------------------------------------------------ originate
    def originate(
        self,
        action_id: str,
        *,
        channel: str,
        context: str,
        exten: str,
        caller_id: str = "",
        timeout_s: float = 30.0,
    ) -> OriginateTruth:
        """An async Originate: later an OriginateResponse, and on answer the call runs
        from ``context``/``exten`` (into a queue when the exten names one)."""
        o = OriginateTruth(
            action_id=action_id,
            channel=channel,
            context=context,
            exten=exten,
            requested_at=round(self.now, 6),
        )
        self.truth.originates.append(o)
        oc = self.config.originate
        rng = self.rng_misc
        draw = rng.random()
        ring = rng.uniform(oc.ring_min_s, oc.ring_max_s)
        self._originates_pending += 1
        if draw < oc.answer_prob and ring < timeout_s:
            self.schedule(self.now + ring, self._originate_answered, o, caller_id)
        elif draw < oc.answer_prob + oc.busy_prob:
            self.schedule(
                self.now + min(ring, 2.0), self._originate_failed, o, "busy", 5, caller_id
            )
        elif draw < oc.answer_prob + oc.busy_prob + oc.congestion_prob:
            self.schedule(self.now + 0.5, self._originate_failed, o, "congestion", 8, caller_id)
        else:
            wait = min(timeout_s, oc.no_answer_after_s)
            self.schedule(self.now + wait, self._originate_failed, o, "no-answer", 3, caller_id)
        return o

    def _originate_failed(self, o: OriginateTruth, outcome: str, reason: int, cid: str) -> None:
        self._originates_pending -= 1
        o.outcome = outcome
        num, name = _parse_cid(cid)
        self._emit(
            self.ami.originate_response(
                self._ts(),
                action_id=o.action_id,
                response="Failure",
                channel=o.channel,
                context=o.context,
                exten=o.exten,
                reason=reason,
                uniqueid="<null>",
                cid_num=num,
                cid_name=name,
            )
        )

    def _queue_for(self, exten: str) -> QueueState | None:
        for svc in self.config.services:
            if svc.exten == exten:
                return self.queues[svc.queue]
        return self.queues.get(exten) or self.queues.get(f"q{exten}")

    def _originate_answered(self, o: OriginateTruth, cid: str) -> None:
        self._originates_pending -= 1
        num, name = _parse_cid(cid)
        tech, _, rest = o.channel.partition("/")
        if tech == "Local" and "@" in rest:
            exten, ctx = rest.split("@", 1)
            c1, c2 = self._local_pair(exten, ctx)
        else:
            base = f"{o.channel}-{self._local_seq:08x}"
            self._local_seq += 1
            uid = self._uid()
            c1 = Channel(base, uid, uid, o.context, o.exten, created=self.now)
            c2 = Channel(base, uid, uid, o.context, o.exten, created=self.now)
        for ch in (c1, c2):
            ch.cid_num = ch.conn_num = num
            ch.cid_name = ch.conn_name = name
        self._noise_new(c1, c2)
        c1.context, c1.exten, c1.state = o.context, o.exten, 6
        self._noise_state(c1, 6)
        self._emit(
            self.ami.originate_response(
                self._ts(),
                action_id=o.action_id,
                response="Success",
                channel=c1.name,
                context=o.context,
                exten=o.exten,
                reason=4,
                uniqueid=c1.uniqueid,
                cid_num=num,
                cid_name=name,
            )
        )
        o.outcome, o.uniqueid, o.answered_at = "answered", c1.uniqueid, round(self.now, 6)
        pclass, patience = self._draw_patience(self.rng_misc)
        truth = TruthCall(
            uniqueid=c1.uniqueid,
            channel=c1.name,
            service=o.exten,
            origin="originate",
            caller_num=num,
            caller_name=name,
            arrived_at=round(self.now, 6),
            patience_s=patience,
            patience_class=pclass,
        )
        self.truth.calls.append(truth)
        call = Call(truth, c1, c2, None, patience)
        self.active[c1.uniqueid] = call
        qs = self._queue_for(o.exten)
        if qs is not None:
            self._join(call, qs, 1)
        else:
            b = self.config.behaviour
            truth.outcome = "no-queue"
            call.state = "talking-nq"
            self.schedule(
                self.now + self.rng_misc.uniform(b.talk_min_s, b.talk_max_s), self._finish, call
            )

    # ------------------------------------------------------------------ redirect (AMI)
    def redirect(self, channel: str, context: str, exten: str) -> bool:
        """AMI ``Redirect`` of a caller channel waiting in a queue or talking to an agent
        (False: no such call).

        As a real Asterisk master does it (tests/fixtures/captures, the lab of 2026-12):

        - **talking**, 12+: the caller leaves the bridge and the agent's channel hangs up
          (the agent is free at once, CallsTaken counted) but app_queue writes NOTHING for
          that stay now: no AgentComplete, no queue_log line. Both come when the caller's
          channel finally hangs up, after whatever followed (see :meth:`_finish`):
          ``AgentComplete Reason: caller`` without the agent's ``Dest*`` block and
          ``COMPLETECALLER``, TalkTime counted up to that hang-up. Asterisk 11 (not
          re-checked on a real 11) sees the caller's context/exten change:
          ``AgentComplete Reason: transfer`` and queue_log TRANSFER at once;
        - **waiting**: the caller leaves the queue as an abandon (the QUEUEWAIT VarSet,
          ``QueueCallerAbandon`` whose snapshot already shows the new context/exten,
          ``QueueCallerLeave``; queue_log ``ABANDON``); an agent ringing for it is
          cancelled as for a hang-up (by analogy: not seen in the lab).

        The caller then runs ``context``/``exten``: an exten naming a queue (the generated
        ``[centralita-transfer]`` context: ``exten => q101,...,Queue(q101)``) queues it
        there, the same channel, a new stay; any other exten
        (``Local/<interno>@from-internal``) is a dial outside the queues, talked for a
        while, then hung up.
        """
        call = next(
            (
                c
                for c in self.active.values()
                if c.chan.name == channel and c.state in ("talking", "waiting")
            ),
            None,
        )
        if call is None:
            return False
        c1 = call.chan
        c1.context, c1.exten, c1.priority = context, exten, 1
        if call.state == "waiting":
            self._redirect_waiting(call)
        elif self.config.dialect == "11":
            self._complete(call, "transfer", caller_goes_on=True)
        else:
            self._leave_talk(call)
        qs = self.queues.get(exten)
        if qs is not None:
            self._noise_exten(c1, 1, "NoOp", f"centralita transfer to {exten}")
            self.schedule(self.now + 0.001, self._join, call, qs, 2)
        else:
            b = self.config.behaviour
            self._noise_exten(c1, 1, "Dial", f"Local/{exten}@{context}")
            call.state = "talking-nq"
            talk = self.rng_misc.uniform(b.talk_min_s, b.talk_max_s)
            self.schedule(self.now + talk, self._finish, call)
        return True

    def _redirect_waiting(self, call: Call) -> None:
        qs = call.queue
        assert qs is not None
        if call.ring is not None:
            ring_ms = round((self.now - call.ring.started) * 1000)
            if self.config.dialect != "11":
                name = call.ring.agent.name
                self._qlog(call.chan.uniqueid, qs.name, name, "RINGCANCELED", str(ring_ms))
            self._end_ring(call)
        pos, orig, hold = self._leave_unanswered(call, "redirected", "")
        self._qlog(call.chan.uniqueid, qs.name, "NONE", "ABANDON", str(pos), str(orig), str(hold))
        self._dispatch()

    def _leave_talk(self, call: Call) -> None:
        """12+: the caller is taken out of the agent's bridge (see :meth:`redirect`)."""
        agent, a1, a2, m = call.agent, call.agent_chan, call.agent_chan2, call.membership
        assert agent is not None
        assert a1 is not None
        assert a2 is not None
        assert m is not None
        hold = int(call.answered_at) - int(call.joined_at)
        call.left_talks.append(LeftTalk(m, hold, call.answered_at, call.orig_pos))
        # the caller leaves the agent's bridge first, its snapshot already at the new place
        bridge = f"sim-bridge-{call.chan.uniqueid}-{len(call.left_talks)}"
        self._emit(self.ami.bridge_leave(self._ts(), call.chan, bridge, 1))
        self._emit(self.ami.bridge_leave(self._ts(), a1, bridge, 0))
        self._agent_freed(agent, a1, a2)
        call.state = "moving"
        call.agent = call.agent_chan = call.agent_chan2 = call.membership = None
        self._dispatch()

    # ------------------------------------------------------------------ views
    def queue_config(self, name: str) -> QueueConfig | None:
        """Config of a queue, if it exists."""
        qs = self.queues.get(name)
        return None if qs is None else qs.cfg


def _parse_cid(cid: str) -> tuple[str, str]:
    """``"Name" <num>`` or ``num`` → (num, name)."""
    cid = cid.strip()
    if "<" in cid and cid.endswith(">"):
        name, _, num = cid[:-1].rpartition("<")
        return num.strip(), name.strip().strip('"')
    return cid, ""
