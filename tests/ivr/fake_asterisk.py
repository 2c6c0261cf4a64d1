"""A fake Asterisk FastAGI client over real TCP: header block, then scripted replies."""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass, field

_SET = re.compile(r'^SET VARIABLE (\S+) "((?:[^"\\]|\\.)*)"$')
_EXEC = re.compile(r'^EXEC (\S+) "((?:[^"\\]|\\.)*)"$')
_GET = re.compile(r'^GET DATA "((?:[^"\\]|\\.)*)" (\d+) (\d+)$')


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def headers(service: str = "101", *, callerid: str = "71234567", uniqueid: str = "1795925652.0"):
    """The header block Asterisk sends for `AGI(agi://host/ivr?service=...)`."""
    return {
        "agi_network": "yes",
        "agi_network_script": f"ivr?service={service}",
        "agi_request": f"agi://127.0.0.1:4573/ivr?service={service}",
        "agi_channel": "Local/225@lab-callers-00000000;1",
        "agi_language": "es",
        "agi_type": "Local",
        "agi_uniqueid": uniqueid,
        "agi_version": "11.25.3",
        "agi_callerid": callerid,
        "agi_calleridname": "unknown",
        "agi_callingpres": "0",
        "agi_dnid": "unknown",
        "agi_rdnis": "unknown",
        "agi_context": "from-pstn",
        "agi_extension": service,
        "agi_priority": "2",
        "agi_enhanced": "0.0",
        "agi_accountcode": "",
        "agi_threadid": "140536525621000",
    }


@dataclass
class Transcript:
    """What the server did to the fake channel."""

    commands: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    user_events: list[dict[str, str]] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)
    closed_by_server: bool = False

    @property
    def queue(self) -> str | None:
        return self.variables.get("CC_QUEUE")

    @property
    def event(self) -> dict[str, str]:
        assert len(self.user_events) == 1, self.user_events
        return self.user_events[0]


def parse_user_event(body: str) -> dict[str, str]:
    name, *pairs = body.split(",")
    event = {"UserEvent": name}
    for pair in pairs:
        key, _sep, value = pair.partition(": ")
        event[key] = value
    return event


@dataclass
class FakeAsterisk:
    """One call: `digits` answers successive GET DATA (None = nothing keyed, timeout).

    hangup_at: on that command (1-based) the caller hangs up: an unsolicited HANGUP line,
        then `200 result=-1` for that command and 511 for every later one.
    delay_at: {command number: seconds} to wait before replying (a slow channel).
    missing: sound files this PBX lacks: STREAM FILE / GET DATA of them answer
        `200 result=-1` (Asterisk's reply), and that GET DATA's digits are then keyed one
        per WAIT FOR DIGIT (the last one ends with a timeout).
    hangup_reply_first: the hangup of `hangup_at` in Asterisk's own order: the command's
        `200 result=-1` first, the HANGUP line after it.
    """

    port: int
    service: str = "101"
    digits: list[str | None] = field(default_factory=list)
    callerid: str = "71234567"
    uniqueid: str = "1795925652.0"
    hangup_at: int | None = None
    delay_at: dict[int, float] = field(default_factory=dict)
    missing: frozenset[str] = frozenset()
    hangup_reply_first: bool = False
    transcript: Transcript = field(default_factory=Transcript)
    keyed: list[str] = field(default_factory=list)

    async def run(self, timeout_s: float = 30.0) -> Transcript:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            block = "".join(
                f"{k}: {v}\n"
                for k, v in headers(
                    self.service, callerid=self.callerid, uniqueid=self.uniqueid
                ).items()
            )
            writer.write(block.encode() + b"\n")
            await writer.drain()
            async with asyncio.timeout(timeout_s):
                await self._serve(reader, writer)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        return self.transcript

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        dead = False
        while True:
            try:
                raw = await reader.readline()
            except ConnectionError:
                raw = b""
            if not raw:
                self.transcript.closed_by_server = True
                return
            line = raw.decode().rstrip("\n")
            self.transcript.commands.append(line)
            number = len(self.transcript.commands)
            if number in self.delay_at:
                await asyncio.sleep(self.delay_at[number])
            if dead:
                reply = "511 Command Not Permitted on a dead channel or intercept routine"
            elif number == self.hangup_at:
                dead = True
                reply = (
                    "200 result=-1\nHANGUP" if self.hangup_reply_first else "HANGUP\n200 result=-1"
                )
            else:
                reply = self._reply(line)
            try:
                writer.write(reply.encode() + b"\n")
                await writer.drain()
            except ConnectionError:
                self.transcript.closed_by_server = True
                return

    def _reply(self, line: str) -> str:
        if match := _SET.match(line):
            self.transcript.variables[match.group(1)] = _unescape(match.group(2))
            return "200 result=1"
        if match := _EXEC.match(line):
            if match.group(1) == "UserEvent":
                self.transcript.user_events.append(parse_user_event(_unescape(match.group(2))))
            return "200 result=0"
        if line.startswith("WAIT FOR DIGIT "):
            return f"200 result={ord(self.keyed.pop(0)) if self.keyed else 0}"
        if (match := _GET.match(line)) and _unescape(match.group(1)) in self.missing:
            keyed = self.digits.pop(0) if self.digits else None
            self.keyed = list(keyed or "")
            return "200 result=-1"
        if match := _GET.match(line):
            self.transcript.prompts.append(_unescape(match.group(1)))
            keyed = self.digits.pop(0) if self.digits else None
            if keyed is None:
                return "200 result= (timeout)"
            return f"200 result={keyed}"
        if line.startswith("STREAM FILE"):
            if _unescape(line.split('"')[1]) in self.missing:
                return "200 result=-1 endpos=0"
            self.transcript.prompts.append(_unescape(line.split('"')[1]))
            return "200 result=0 endpos=24000"
        if line in {"ANSWER"} or line.startswith("VERBOSE"):
            return "200 result=0" if line == "ANSWER" else "200 result=1"
        return "510 Invalid or unknown command"
