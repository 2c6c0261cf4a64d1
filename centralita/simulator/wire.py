"""The simulator's own AMI wire format: what a PBX writes and how it reads actions (pure).

Deliberately independent of ``ami_listener.protocol``: the simulator is the test oracle of
the listener, and a bug shared by both sides of the wire would cancel out. Only what a PBX
needs is here:

- :func:`encode` writes one message (``Key: Value\\r\\n`` lines, then a blank line), as
  Asterisk's ``astman_append`` does;
- :class:`ActionReader` frames the client's bytes into actions: lines end ``\\r\\n`` or a
  bare ``\\n``, a blank line ends a message, framing is on bytes and each whole message is
  decoded as UTF-8 (a character split across TCP reads is never broken); keys are
  case-insensitive (lower-cased), the first value of a repeated key wins, values are
  stripped (Asterisk's ``astman_get_header`` skips the blanks after the colon);
- :func:`parse_event` reads one recorded event frame (the capture server's state keeping).
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_ACTION_BYTES = 1 << 20
"""An action larger than this without its blank line is discarded (a PBX would too)."""


def encode(fields: Iterable[tuple[str, str]]) -> bytes:
    """One AMI message: ``Key: Value`` lines ending CRLF, and the blank line."""
    return ("".join(f"{key}: {value}\r\n" for key, value in fields) + "\r\n").encode("utf-8")


def parse_action(frame: bytes) -> dict[str, str]:
    """An action's headers from one frame (no blank line), keys lower-cased."""
    out: dict[str, str] = {}
    for line in frame.decode("utf-8", "replace").split("\n"):
        key, sep, value = line.partition(":")
        key = key.strip()
        if sep and key:
            out.setdefault(key.lower(), value.strip())
    return out


class ActionReader:
    """Frames a client's byte stream into actions (see the module docstring)."""

    def __init__(self, max_action_bytes: int = MAX_ACTION_BYTES) -> None:
        self._buf = b""
        self._max = max_action_bytes
        self.discarded = 0

    def feed(self, data: bytes) -> list[dict[str, str]]:
        """The actions completed by ``data``, in order (empty frames skipped)."""
        # Joined before CRLF is folded: a CRLF may be split across two reads.
        buf = (self._buf + data).replace(b"\r\n", b"\n")
        out: list[dict[str, str]] = []
        start = 0
        while True:
            end = buf.find(b"\n\n", start)
            if end < 0:
                break
            frame = buf[start:end].strip(b"\n")
            start = end + 2
            if frame:
                action = parse_action(frame)
                if action:
                    out.append(action)
        rest = buf[start:]
        if len(rest) > self._max:
            self.discarded += 1
            rest = b""
        self._buf = rest
        return out


def parse_event(frame: bytes) -> tuple[str, dict[str, str]]:
    """A recorded event frame → its name and headers (first value of each key).

    A header is split at the first ``": "`` (values may hold colons); a line without one
    is ignored.
    """
    headers: dict[str, str] = {}
    text = frame.decode("utf-8", "replace").replace("\r\n", "\n")
    for line in text.split("\n"):
        key, sep, value = line.partition(": ")
        if not sep:
            key, sep, value = line.partition(":")
        if sep and key:
            headers.setdefault(key, value)
    return headers.get("Event", ""), headers
