"""FastAGI protocol: the header block, one session per call, replies, timeouts.

The server that accepts connections and runs a session per call is `ivr.agi_server`.

Our own small asyncio server instead of panoramisk's `fast_agi`, which freezes the event
loop when a client closes before the header block and takes an unsolicited `HANGUP` line
for the reply to the pending command (every later reply is then one command late).

Here every read and write has a deadline, `HANGUP` lines are recorded and skipped while
reading a reply (so replies never desynchronise), and a session that fails in any way
only closes its own socket. Closing the socket is safe for the call: Asterisk sets
AGISTATUS=SUCCESS and the dialplan goes on to `Queue(${CC_QUEUE})`. The server never sends
the `HANGUP` command, which would drop the call before the queue.

A prompt the PBX cannot play (no such file for the channel's language) makes STREAM FILE
and GET DATA answer `result=-1`, as a hangup does. The session tells them apart with a
WAIT FOR DIGIT (-1 or 511 only on a dead channel): a missing prompt is skipped, GET DATA's
digits are read with WAIT FOR DIGIT instead, and the file is counted (`ivr.prompt_health`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import parse_qs, urlsplit

import structlog

from centralita.ivr import prompt_health
from centralita.ivr.exceptions import AgiClosedError, AgiHangup, AgiProtocolError, AgiTimeoutError

log = structlog.get_logger(__name__)

MAX_HEADER_LINES = 200
LINE_LIMIT = 8192
_HEADER = re.compile(r"^(agi_[a-z0-9_]+):\s?(.*)$")
_REPLY = re.compile(r"^(\d{3})([ -])(.*)$")
_RESULT = re.compile(r"^result=(\S*)(?:\s+\((.*?)\))?(.*)$")


@dataclass(frozen=True, slots=True)
class AgiTimeouts:
    """Deadlines of one session, in seconds."""

    header_s: float = 5.0
    """The whole header block, from accept to the blank line."""
    reply_s: float = 10.0
    """The reply to an ordinary command (prompts and digit reads add their own time)."""
    write_s: float = 5.0
    """Handing a command to a peer that does not read."""
    close_s: float = 2.0
    """Waiting for the socket to close."""


@dataclass(frozen=True, slots=True)
class AgiRequest:
    """The `agi_*` header block Asterisk sends first."""

    headers: Mapping[str, str]

    def get(self, name: str) -> str:
        """A header value without the `agi_` prefix (`request.get("uniqueid")`), or ''."""
        return self.headers.get(f"agi_{name}", "")

    @property
    def script(self) -> str:
        """The script path of `agi_network_script`, e.g. `ivr` for `ivr?service=101`."""
        return urlsplit(self.get("network_script")).path.strip("/")

    @property
    def params(self) -> Mapping[str, str]:
        """The query parameters of `agi_network_script` (last value wins)."""
        query = urlsplit(self.get("network_script")).query
        return {key: values[-1] for key, values in parse_qs(query).items()}

    @property
    def uniqueid(self) -> str:
        """agi_uniqueid: the channel's Uniqueid."""
        return self.get("uniqueid")

    @property
    def extension(self) -> str:
        """agi_extension: the dialed number in the dialplan."""
        return self.get("extension")

    @property
    def callerid(self) -> str:
        """agi_callerid: the caller's number ('unknown' when Asterisk has none)."""
        return self.get("callerid")


@dataclass(frozen=True, slots=True)
class AgiReply:
    """One reply: `200 result=1 (timeout) endpos=1234`."""

    code: int
    result: str = ""
    data: str = ""
    extra: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    text: str = ""

    @property
    def ok(self) -> bool:
        """True for a 200 reply."""
        return self.code == 200

    @property
    def timed_out(self) -> bool:
        """True when the reply says `(timeout)` (e.g. GET DATA ended without '#')."""
        return self.data == "timeout"


def _redact(line: str) -> str:
    """A short, loggable excerpt of a bad line: digit runs (maybe numbers) masked."""
    return re.sub(r"\d{4,}", lambda m: "*" * (len(m[0]) - 3) + m[0][-3:], line[:60])


def parse_reply(first: str, more: tuple[str, ...] = ()) -> AgiReply:
    """Parse a reply line (plus continuation lines of a `520-` reply)."""
    match = _REPLY.match(first)
    if match is None:
        raise AgiProtocolError(f"not an AGI reply: {_redact(first)!r}")
    code, _sep, rest = int(match.group(1)), match.group(2), match.group(3)
    if code != 200:
        return AgiReply(code=code, text="\n".join((rest, *more)))
    result = _RESULT.match(rest.strip())
    if result is None:
        raise AgiProtocolError(f"200 reply without result: {_redact(first)!r}")
    extra: dict[str, str] = {}
    for item in result.group(3).split():
        key, _eq, value = item.partition("=")
        extra[key] = value
    return AgiReply(
        code=code,
        result=result.group(1),
        data=result.group(2) or "",
        extra=MappingProxyType(extra),
        text=rest,
    )


def quote(arg: str) -> str:
    """Quote one command argument for Asterisk's AGI parser."""
    if any(ch in arg for ch in "\r\n\x00"):
        raise AgiProtocolError("AGI arguments cannot contain line breaks")
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def _readline(reader: asyncio.StreamReader) -> str:
    try:
        raw = await reader.readline()
    except ValueError as exc:  # the StreamReader limit: a line longer than LINE_LIMIT
        raise AgiProtocolError("line too long") from exc
    except ConnectionError as exc:
        raise AgiClosedError(str(exc) or type(exc).__name__) from exc
    if not raw.endswith(b"\n"):
        raise AgiClosedError("peer closed the connection")
    return raw.decode("utf-8", errors="replace").rstrip("\r\n")


async def read_request(reader: asyncio.StreamReader, timeout_s: float) -> AgiRequest:
    """Read the header block up to its blank line within `timeout_s`."""
    headers: dict[str, str] = {}
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                line = await _readline(reader)
                if not line:
                    break
                match = _HEADER.match(line)
                if match is None:
                    raise AgiProtocolError(f"not an AGI header line: {_redact(line)!r}")
                headers[match.group(1)] = match.group(2).strip()
                if len(headers) > MAX_HEADER_LINES:
                    raise AgiProtocolError("too many header lines")
    except TimeoutError as exc:
        raise AgiTimeoutError("header block not complete in time") from exc
    if not headers:
        raise AgiProtocolError("empty header block")
    return AgiRequest(headers=MappingProxyType(headers))


class AgiSession:
    """One FastAGI connection: send a command, read its reply; HANGUP-aware."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: AgiRequest,
        timeouts: AgiTimeouts,
        missing_prompts: prompt_health.MissingPrompts | None = None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.request = request
        self.timeouts = timeouts
        self.missing_prompts = (
            prompt_health.MISSING_PROMPTS if missing_prompts is None else missing_prompts
        )
        self.hung_up = False
        self.commands_sent = 0

    async def command(self, line: str, *, timeout_s: float | None = None) -> AgiReply:
        """Send one command and return its reply.

        Raises AgiHangup once the caller has hung up (after reading the pending reply, so
        the stream stays in step), AgiTimeoutError, AgiClosedError, AgiProtocolError.
        """
        if self.hung_up:
            raise AgiHangup("channel already hung up")
        if "\n" in line or "\r" in line:
            raise AgiProtocolError("a command is one line")
        self._writer.write(line.encode("utf-8") + b"\n")
        try:
            async with asyncio.timeout(self.timeouts.write_s):
                await self._writer.drain()
        except TimeoutError as exc:
            raise AgiTimeoutError("peer does not read") from exc
        except ConnectionError as exc:
            raise AgiClosedError(str(exc) or type(exc).__name__) from exc
        self.commands_sent += 1
        reply = await self._read_reply(self.timeouts.reply_s if timeout_s is None else timeout_s)
        if reply.code == 511 or self._hangup_seen():
            self.hung_up = True
            raise AgiHangup(f"caller hung up during {line.split(' ', 1)[0]}")
        return reply

    def _hangup_seen(self) -> bool:
        # a method, so that type narrowing from the check above does not hide the update
        return self.hung_up

    async def _read_reply(self, timeout_s: float) -> AgiReply:
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    line = await _readline(self._reader)
                    if line == "HANGUP":
                        self.hung_up = True
                        log.debug("agi_hangup_received")
                        continue
                    if not line:
                        continue
                    if line[3:4] == "-":
                        return parse_reply(line, await self._continuation(line[:3]))
                    return parse_reply(line)
        except TimeoutError as exc:
            raise AgiTimeoutError("no reply in time") from exc

    async def _continuation(self, code: str) -> tuple[str, ...]:
        more: list[str] = []
        while len(more) < MAX_HEADER_LINES:
            line = await _readline(self._reader)
            more.append(line)
            if line.startswith(f"{code} "):
                return tuple(more)
        raise AgiProtocolError("endless multi-line reply")

    # Commands the flows use. Sound files are names without extension.

    async def answer(self) -> None:
        """ANSWER the channel (a no-op when it is already up)."""
        self._check(await self.command("ANSWER"), "ANSWER")

    async def stream_file(self, prompt: str, *, max_duration_s: float = 60.0) -> None:
        """Play a prompt to the end (no escape digits); a prompt the PBX lacks is skipped."""
        reply = await self.command(
            f'STREAM FILE {quote(prompt)} ""', timeout_s=self.timeouts.reply_s + max_duration_s
        )
        if reply.ok and reply.result == "-1":
            await self.wait_for_digit(0)  # raises AgiHangup when the -1 was a hangup
            self.missing_prompts.record(prompt)
            return
        self._check(reply, "STREAM FILE")

    async def get_data(
        self, prompt: str, *, timeout_ms: int, max_digits: int, max_prompt_s: float = 60.0
    ) -> tuple[str, bool]:
        """Play `prompt` and collect up to `max_digits` DTMF digits; '#' ends the input.

        Returns the digits (maybe empty) and whether the read ended by timeout. When the
        PBX lacks the prompt the digits are read all the same, without it.
        """
        budget_s = self.timeouts.reply_s + max_prompt_s + timeout_ms / 1000 * (max_digits + 1)
        reply = await self.command(
            f"GET DATA {quote(prompt)} {timeout_ms} {max_digits}", timeout_s=budget_s
        )
        if reply.ok and reply.result == "-1":
            return await self._digits_without(prompt, timeout_ms, max_digits)
        self._check(reply, "GET DATA")
        return reply.result, reply.timed_out

    async def wait_for_digit(self, timeout_ms: int) -> str:
        """WAIT FOR DIGIT: the key pressed within `timeout_ms`, or '' (0: do not wait)."""
        reply = await self.command(
            f"WAIT FOR DIGIT {timeout_ms}", timeout_s=self.timeouts.reply_s + timeout_ms / 1000
        )
        self._check(reply, "WAIT FOR DIGIT")
        try:
            code = int(reply.result)
        except ValueError:
            raise AgiProtocolError(f"WAIT FOR DIGIT: not a digit code: {reply.result!r}") from None
        if not 0 <= code < 128:
            raise AgiProtocolError(f"WAIT FOR DIGIT: not a digit code: {code}")
        return chr(code) if code else ""

    async def _digits_without(
        self, prompt: str, timeout_ms: int, max_digits: int
    ) -> tuple[str, bool]:
        """GET DATA's reading with WAIT FOR DIGIT: each key within `timeout_ms`, '#' ends."""
        key = await self.wait_for_digit(timeout_ms)
        self.missing_prompts.record(prompt)  # the channel answered: the -1 was the file
        digits = ""
        while key and key != "#":
            digits += key
            if len(digits) >= max_digits:
                return digits, False
            key = await self.wait_for_digit(timeout_ms)
        return digits, not key

    async def set_variable(self, name: str, value: str) -> None:
        """SET VARIABLE on the channel."""
        self._check(await self.command(f"SET VARIABLE {name} {quote(value)}"), "SET VARIABLE")

    async def exec_app(self, app: str, args: str) -> None:
        """EXEC a dialplan application with one argument string."""
        reply = await self.command(f"EXEC {app} {quote(args)}")
        self._check(reply, f"EXEC {app}")
        if reply.result == "-2":
            raise AgiProtocolError(f"application {app} not found")

    async def verbose(self, message: str, level: int = 3) -> None:
        """VERBOSE a line into the Asterisk console/log."""
        self._check(await self.command(f"VERBOSE {quote(message)} {level}"), "VERBOSE")

    def _check(self, reply: AgiReply, what: str) -> None:
        if not reply.ok:
            raise AgiProtocolError(f"{what} failed: {reply.code} {reply.text[:80]}")
        if reply.result == "-1":
            self.hung_up = True
            raise AgiHangup(f"{what} returned -1")
