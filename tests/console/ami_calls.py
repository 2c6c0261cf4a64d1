"""Synthetic AMI 12+ frames for one queue call, shaped like the real captures' frames.

Used by the console tests (a call with an IVR result and an agent, which the lab captures
do not have) and by ``bench/screenpop.py`` (calls on a schedule).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from centralita.ami_listener.protocol import AmiMessage, AmiParser


def frame(headers: dict[str, str]) -> bytes:
    """One AMI message on the wire."""
    return "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode() + b"\r\n"


@dataclass
class Call:
    """One caller who waits ``wait_s`` in ``queue`` and is answered by ``agent``."""

    uniqueid: str
    service: str
    caller: str
    agent: int = 1
    t0: float = 1_795_922_042.0
    wait_s: float = 3.0
    talk_s: float = 30.0
    ivr: dict[str, str] | None = None
    queue: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.queue = self.queue or f"q{self.service}"

    def _caller(self, event: str, ts: float) -> dict[str, str]:
        return {
            "Event": event,
            "Privilege": "agent,all",
            "Timestamp": f"{ts:.6f}",
            "Channel": f"Local/{self.uniqueid}@lab-callers-00000002;1",
            "ChannelState": "6",
            "ChannelStateDesc": "Up",
            "CallerIDNum": self.caller,
            "CallerIDName": "<unknown>",
            "Language": "es",
            "Context": "from-pstn",
            "Exten": self.service,
            "Priority": "6",
            "Uniqueid": self.uniqueid,
            "Linkedid": self.uniqueid,
        }

    def _agent(self, event: str, ts: float) -> dict[str, str]:
        h = self._caller(event, ts)
        h.update(
            {
                "DestChannel": f"Local/agent{self.agent}@lab-agents-0000000{self.agent};1",
                "DestUniqueid": f"{self.uniqueid}9",
                "Queue": self.queue,
                "Interface": f"Local/agent{self.agent}@lab-agents",
                "MemberName": f"Agent {self.agent}",
                "HoldTime": str(int(self.wait_s)),
            }
        )
        return h

    def ivr_frame(self) -> bytes:
        """The IVR's UserEvent (empty when the call has no IVR result)."""
        if self.ivr is None:
            return b""
        h = self._caller("UserEvent", self.t0 - 0.5)
        h["UserEvent"] = "CentralitaIvr"
        h.update(self.ivr)
        return frame(h)

    def join(self) -> bytes:
        h = self._caller("QueueCallerJoin", self.t0)
        h.update({"Queue": self.queue, "Position": "1", "Count": "1"})
        return frame(h)

    def connect(self) -> bytes:
        ts = self.t0 + self.wait_s
        leave = self._caller("QueueCallerLeave", ts)
        leave.update({"Queue": self.queue, "Position": "1", "Count": "0"})
        h = self._agent("AgentConnect", ts)
        h["RingTime"] = "1"
        return frame(leave) + frame(h)

    def end(self) -> bytes:
        ts = self.t0 + self.wait_s + self.talk_s
        done = self._agent("AgentComplete", ts)
        done.update({"TalkTime": str(int(self.talk_s)), "Reason": "caller"})
        hangup = self._caller("Hangup", ts + 0.001)
        hangup.update({"Cause": "16", "Cause-txt": "Normal Clearing"})
        return frame(done) + frame(hangup)

    def all(self) -> bytes:
        return self.ivr_frame() + self.join() + self.connect() + self.end()


def messages(data: bytes) -> list[AmiMessage]:
    """Parse frames back into messages (what the pipeline is fed)."""
    return [m for m in AmiParser().feed(data) if isinstance(m, AmiMessage)]
