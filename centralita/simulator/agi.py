"""A small FastAGI client: plays Asterisk's side of one AGI session against the IVR.

Sends the ``agi_*`` header block, then answers each command the server sends with a
``200 result=...`` line, as Asterisk does. ``GET DATA`` is answered with the call's
configured DTMF (comma-separated answers, one per GET DATA, then timeouts);
``SET VARIABLE CC_QUEUE q101`` picks the queue; ``EXEC UserEvent name,Key: value,...``
is handed to ``on_user_event``; ``HANGUP`` ends the call before the queue. An unreachable
server gives AGISTATUS=FAILURE (the dialplan's fallback queues the call anyway).
A sound file named in ``missing_prompts`` is not on this PBX: STREAM FILE and GET DATA of
it answer ``result=-1`` as Asterisk does, and the caller's answer to that GET DATA is then
keyed one digit per ``WAIT FOR DIGIT``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Collection

import structlog

from centralita.simulator.model import AgiRequest, AgiResult

log = structlog.get_logger(__name__)

UserEventHook = Callable[[str, list[tuple[str, str]]], None]


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


def parse_user_event(args: str) -> tuple[str, list[tuple[str, str]]]:
    """``CentralitaIvr,Service: 101,Result: ok`` → name and header pairs."""
    parts = _unquote(args).split(",")
    fields: list[tuple[str, str]] = []
    for part in parts[1:]:
        key, sep, value = part.partition(":")
        if sep and key.strip():
            fields.append((key.strip(), value.strip()))
    return parts[0].strip(), fields


def _sound(args: str) -> str:
    """The sound file of ``"cc-saludo-101" ""`` or ``"cc-pida-telefono" 5000 8``."""
    return _unquote(args.split(None, 1)[0]) if args.strip() else ""


async def run_session(
    host: str,
    port: int,
    request: AgiRequest,
    on_user_event: UserEventHook,
    *,
    timeout_s: float = 10.0,
    missing_prompts: Collection[str] = (),
) -> AgiResult:
    """Run one FastAGI session; never raises for network trouble."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except (OSError, TimeoutError):
        return AgiResult("FAILURE")
    env = dict(request.env)
    env["agi_request"] = f"agi://{host}:{port}/{env.get('agi_network_script', '')}"
    answers = request.dtmf.split(",") if request.dtmf else []
    keyed: list[str] = []  # the answer to a GET DATA without its prompt, key by key
    queue = ""
    try:
        writer.write("".join(f"{k}: {v}\n" for k, v in env.items()).encode() + b"\n")
        await writer.drain()
        while True:
            raw = await asyncio.wait_for(reader.readline(), timeout_s)
            if not raw:
                return AgiResult("SUCCESS", queue)
            command = raw.decode("utf-8", "replace").strip()
            if not command:
                continue
            words = command.split(None, 2)
            verb = " ".join(words[:2]).upper() if len(words) > 1 else words[0].upper()
            reply = "200 result=0"
            sound = _sound(words[2]) if len(words) > 2 else ""
            if verb == "GET DATA" and sound in missing_prompts:
                digits = answers.pop(0) if answers else ""
                keyed = [*digits, "#"] if digits else []
                reply = "200 result=-1"
            elif verb == "GET DATA":
                digits = answers.pop(0) if answers else ""
                reply = f"200 result={digits}" if digits else "200 result= (timeout)"
            elif verb == "WAIT FOR":
                reply = f"200 result={ord(keyed.pop(0)) if keyed else 0}"
            elif verb == "SET VARIABLE":
                name, _, value = (words[2] if len(words) > 2 else "").partition(" ")
                if _unquote(name) == "CC_QUEUE":
                    queue = _unquote(value)
                reply = "200 result=1"
            elif verb.startswith("EXEC"):
                app, _, args = (command.split(None, 1)[1] if " " in command else "").partition(" ")
                if _unquote(app).lower() == "userevent":
                    name, fields = parse_user_event(args)
                    on_user_event(name, fields)
            elif verb.startswith("HANGUP"):
                writer.write(b"200 result=1\n")
                await writer.drain()
                return AgiResult("HANGUP", queue)
            elif verb.startswith(("VERBOSE", "NOOP", "ANSWER")):
                reply = "200 result=1" if not verb.startswith("ANSWER") else "200 result=0"
            elif verb.startswith("STREAM FILE"):
                reply = f"200 result={-1 if sound in missing_prompts else 0} endpos=0"
            writer.write(reply.encode() + b"\n")
            await writer.drain()
    except (OSError, TimeoutError) as exc:
        log.debug("agi_session_failed", uniqueid=request.uniqueid, error=str(exc))
        return AgiResult("SUCCESS", queue)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
