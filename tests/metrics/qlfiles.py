"""queue_log lines in Asterisk's exact format (``epoch|callid|queue|agent|verb|data...``),
written by hand for the follower and healing tests."""

from __future__ import annotations

from pathlib import Path


def enter(t: int, uid: str, queue: str = "q101", num: str = "4999635", pos: int = 1) -> str:
    """ENTERQUEUE: url | callerid num | position."""
    return f"{t}|{uid}|{queue}|NONE|ENTERQUEUE||{num}|{pos}"


def connect(t: int, uid: str, hold: int, queue: str = "q101", agent: str = "Agent 1") -> str:
    """CONNECT: holdtime | agent channel uniqueid | ringtime."""
    return f"{t}|{uid}|{queue}|{agent}|CONNECT|{hold}|{uid}9|2"


def complete(
    t: int, uid: str, hold: int, talk: int, queue: str = "q101", agent: str = "Agent 1"
) -> str:
    """COMPLETECALLER: holdtime | talktime | original position."""
    return f"{t}|{uid}|{queue}|{agent}|COMPLETECALLER|{hold}|{talk}|1"


def abandon(t: int, uid: str, wait: int, queue: str = "q101") -> str:
    """ABANDON: position | original position | wait."""
    return f"{t}|{uid}|{queue}|NONE|ABANDON|1|1|{wait}"


def answered_call(t0: int, uid: str, hold: int, talk: int, queue: str = "q101") -> list[str]:
    """The three lines of an answered and completed call entering at ``t0``."""
    return [
        enter(t0, uid, queue),
        connect(t0 + hold, uid, hold, queue),
        complete(t0 + hold + talk, uid, hold, talk, queue),
    ]


def append(path: Path, lines: list[str], *, newline_at_end: bool = True) -> None:
    """Append lines as Asterisk does (``\\n`` after each)."""
    text = "\n".join(lines) + ("\n" if newline_at_end else "")
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text)
