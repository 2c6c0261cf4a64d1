"""AMI wire protocol: frame on bytes, decode whole messages (pure, no I/O).

What this fixes compared with panoramisk 1.4's parser:

- framing happens on bytes, and each message is decoded as UTF-8 only once it is whole, so
  a multi-byte character split across two TCP reads is kept ("José" stays "José");
- a header is split at the first ``": "`` only and empty values are kept (``Value: ``);
  no spurious ``content`` key is added;
- repeated keys (``ChanVariable``, ``Variable``, ``Output``) keep every value;
- the banner (``Asterisk Call Manager/<ver>``, glued to the first response with no blank
  line after it) is recognised and reported, not parsed as a header;
- ``Response: Follows`` bodies (``Command`` on Asterisk 11/13) run to ``--END COMMAND--``,
  or to the first blank line followed by a new ``Event:``/``Response:`` when the marker
  never comes (nothing after a stray Follows is lost);
- garbage never raises: a frame with no header at all, or one that grows past
  ``max_frame_bytes`` without a blank line, becomes a :class:`MalformedFrame` and parsing
  goes on with the next frame.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType


def _load_speedups() -> ModuleType | None:
    """The C versions of the hot loops (``ami_listener._speedups``), or None where the
    extension was not built or ``CENTRALITA_NO_SPEEDUPS`` is set (pure Python)."""
    if os.environ.get("CENTRALITA_NO_SPEEDUPS"):
        return None
    try:
        return importlib.import_module("centralita.ami_listener._speedups")
    except ImportError:  # pragma: no cover - depends on the build machine
        return None


speedups = _load_speedups()

BANNER_PREFIX = b"Asterisk Call Manager/"
_FOLLOWS_MARK = b"--END COMMAND--\n"
_FOLLOWS_START = b"Response: Follows"
_FRAME_STARTS = (b"Event: ", b"Response: ")  # what ends a Follows body without its marker
_LONGEST_START = max(len(word) for word in _FRAME_STARTS)
DEFAULT_MAX_FRAME_BYTES = 1 << 20
_NO_KIND = "frame has no Event, Response or Action header"
_KINDS = ("Event: ", "Response: ", "Action: ")


class AmiMessage:
    """One AMI message: an event or a response.

    The message keeps its whole text (``raw``, line ends normalised to ``\\n``) and parses
    it into ``headers`` only when asked: most events a PBX sends (Newexten, VarSet,
    DeviceStateChange...) are only logged, so their headers are never split. ``get`` finds
    one header without parsing the rest. ``headers`` maps each key to its first value;
    ``lists`` holds every value of keys that appear more than once. ``digest`` identifies
    the exact bytes of the frame (it makes ingestion idempotent); ``body`` is the raw text
    of a ``Response: Follows`` message.
    """

    __slots__ = ("_digest", "_headers", "_lists", "_order", "body", "frame", "name", "raw")

    def __init__(
        self,
        headers: dict[str, str] | None = None,
        lists: dict[str, list[str]] | None = None,
        digest: bytes = b"",
        body: str = "",
        order: list[tuple[str, str]] | None = None,
        *,
        raw: str = "",
        frame: bytes = b"",
    ) -> None:
        self._headers = headers
        self._lists = lists
        self._order = order
        self._digest = digest
        self.body = body
        self.raw = raw
        self.frame = frame
        if headers is not None:
            # a response is never an event, whatever its body's lines look like
            self.name = "" if "Response" in headers else headers.get("Event", "")
        elif raw.startswith("Event: "):
            eol = raw.find("\n")
            self.name = raw[7:] if eol < 0 else raw[7:eol]
        else:
            self.name = ""

    @property
    def digest(self) -> bytes:
        """Identity of the frame's exact (normalised) bytes, computed on first use."""
        digest = self._digest
        if not digest:
            digest = self._digest = frame_digest(self.frame or self.text().encode("utf-8"))
        return digest

    def _parse(self) -> dict[str, str]:
        headers, lists, order = _split_headers(self.raw)
        self._headers, self._lists, self._order = headers, lists, order
        return headers

    @property
    def parsed(self) -> bool:
        """True once the headers have been split (or were given)."""
        return self._headers is not None

    @property
    def headers(self) -> dict[str, str]:
        """Every header (first value of repeated keys), parsed on first use."""
        headers = self._headers
        return headers if headers is not None else self._parse()

    @property
    def lists(self) -> dict[str, list[str]] | None:
        """Every value of the keys that repeat, or None."""
        if self._headers is None:
            self._parse()
        return self._lists

    @property
    def is_event(self) -> bool:
        """True for events, False for responses."""
        return bool(self.name) or "Event" in self.headers

    @property
    def action_id(self) -> str:
        """The ``ActionID`` header, or ``""``."""
        return self.get("ActionID")

    def get(self, key: str, default: str = "") -> str:
        """First value of ``key`` (exact, case-sensitive Asterisk spelling).

        Before the headers are parsed this is a substring search, no split.
        """
        headers = self._headers
        if headers is not None:
            return headers.get(key, default)
        raw = self.raw
        marker = key + ": "
        if raw.startswith(marker):
            start = len(marker)
        else:
            pos = raw.find("\n" + marker)
            if pos < 0:
                return self.headers.get(key, default) if (key + ":") in raw else default
            start = pos + len(marker) + 1
        end = raw.find("\n", start)
        return raw[start:] if end < 0 else raw[start:end]

    def pick(self, keys: tuple[str, ...]) -> dict[str, str]:
        """The first value of each of ``keys`` that is present (what typed decoding
        reads), without splitting the other headers when the message is plain."""
        headers = self._headers
        if headers is None:
            picked = _pick_headers(self.raw, keys)
            if picked is not None:
                return picked
            headers = self._parse()
        return {key: headers[key] for key in keys if key in headers}

    def values(self, key: str) -> list[str]:
        """Every value of a possibly repeated key, in wire order."""
        lists = self.lists
        if lists is not None and key in lists:
            return lists[key]
        value = self.headers.get(key)
        return [] if value is None else [value]

    def pairs(self) -> list[tuple[str, str]]:
        """All headers as (key, value) pairs in wire order, repeats included."""
        headers = self.headers
        if self._order is not None:
            return self._order
        return list(headers.items())

    def to_raw(self) -> dict[str, str | list[str]]:
        """Headers as a JSON-friendly dict; repeated keys map to lists."""
        raw: dict[str, str | list[str]] = dict(self.headers)
        if self._lists:
            raw.update(self._lists)
        return raw

    def text(self) -> str:
        """The message as text (its own raw text, or rebuilt from its headers)."""
        if self.raw:
            return self.raw
        return "\n".join(f"{k}: {v}" for k, v in self.pairs())

    def __repr__(self) -> str:
        return f"AmiMessage({self.headers!r})"


@dataclass(frozen=True, slots=True)
class MalformedFrame:
    """A frame that could not be read as an AMI message, with where and why."""

    offset: int
    reason: str
    excerpt: bytes


@dataclass(frozen=True, slots=True)
class Banner:
    """The greeting line ``Asterisk Call Manager/<version>``."""

    version: str


ParsedItem = AmiMessage | MalformedFrame | Banner | bytes
"""What the parser yields; ``bytes`` is an event frame its ``frame_filter`` left unparsed."""


def decode_text(frame: bytes) -> tuple[str, bool]:
    """Decode a whole frame: UTF-8, falling back to Latin-1 (never loses a byte).

    Returns the text and whether it was valid UTF-8.
    """
    try:
        return frame.decode("utf-8"), True
    except UnicodeDecodeError:
        return frame.decode("latin-1"), False


def frame_digest(frame: bytes) -> bytes:
    """The 16-byte identity of one frame's normalised bytes (idempotent ingestion)."""
    return hashlib.blake2b(frame, digest_size=16).digest()


def parse_frame(frame: bytes, offset: int = 0) -> AmiMessage | MalformedFrame:
    """Read the bytes of one message (without the blank line that ends it).

    Accepts ``\\r\\n`` or ``\\n`` line ends; the digest is taken on the normalised bytes.
    Only the first line is checked here (``Event:``, ``Response:`` or ``Action:``); the
    other headers are split lazily by :class:`AmiMessage`.
    """
    if b"\r" in frame:
        frame = frame.replace(b"\r\n", b"\n")
    text, _valid = decode_text(frame)
    if not text.startswith(_KINDS):
        first = text.split("\n", 1)[0]
        reason = _NO_KIND if ": " in first else "line without 'Key: value' at message start"
        return MalformedFrame(offset, reason, frame[:80])
    if frame.startswith(_FOLLOWS_START):
        headers, lists, order, body = _split_follows(text)
        return AmiMessage(headers, lists, b"", body, order, raw=text, frame=frame)
    return AmiMessage(None, None, raw=text, frame=frame)


def _split_headers(
    text: str,
) -> tuple[dict[str, str], dict[str, list[str]] | None, list[tuple[str, str]] | None]:
    """Split message text into headers; repeated keys also go to ``lists``."""
    fast = _fast_headers(text)
    if fast is not None:
        return fast, None, None
    headers, lists, order, _body = _split_slow(text, follows=False)
    return headers, lists, order


def py_fast_headers(text: str) -> dict[str, str] | None:
    """Headers when every line is ``Key: value`` and no key repeats, else None (the
    reference implementation of ``_speedups.split_headers``)."""
    lines = text.split("\n")
    try:
        fast = dict([line.split(": ", 1) for line in lines])
    except ValueError:
        return None
    return fast if len(fast) == len(lines) else None


def py_pick_headers(text: str, keys: tuple[str, ...]) -> dict[str, str] | None:
    """First values of ``keys`` in a message of plain ``Key: value`` lines, or None when
    a line is not plain (the reference implementation of ``_speedups.pick_headers``)."""
    if not all(key.isascii() for key in keys):
        return None
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: never from a decoded frame
            return None
    picked: dict[str, str] = {}
    for line in text.split("\n"):
        sep = line.find(": ")
        if sep <= 0 or line.endswith("\r"):
            return None
        key = line[:sep]
        if key in keys and key not in picked:
            picked[key] = line[sep + 2 :]
    return picked


if speedups is not None:  # the C frame loop builds ordinary messages itself
    speedups.set_message_type(AmiMessage)  # TypeError if the slots changed: fix both

_fast_headers: Callable[[str], dict[str, str] | None] = py_fast_headers
_pick_headers: Callable[[str, tuple[str, ...]], dict[str, str] | None] = py_pick_headers
if speedups is not None:
    _fast_headers = speedups.split_headers
    _pick_headers = speedups.pick_headers


def _split_follows(
    text: str,
) -> tuple[dict[str, str], dict[str, list[str]] | None, list[tuple[str, str]] | None, str]:
    return _split_slow(text, follows=True)


def _split_slow(
    text: str, *, follows: bool
) -> tuple[dict[str, str], dict[str, list[str]] | None, list[tuple[str, str]] | None, str]:
    headers: dict[str, str] = {}
    lists: dict[str, list[str]] | None = None
    order: list[tuple[str, str]] = []
    body_lines: list[str] = []
    last_key: str | None = None
    for raw_line in text.split("\n"):
        line = raw_line[:-1] if raw_line.endswith("\r") else raw_line
        if not line:
            continue
        sep = line.find(": ")
        if sep > 0:
            key, value = line[:sep], line[sep + 2 :]
        elif sep < 0 and line.endswith(":") and " " not in line:
            key, value = line[:-1], ""
        elif follows and last_key is not None:
            body_lines.append(line)
            continue
        elif last_key is not None:
            # A raw newline inside a value (Asterisk 11 VarSet): continuation line.
            continued = headers[last_key] + "\n" + line
            headers[last_key] = continued
            if lists is not None and last_key in lists:
                lists[last_key][-1] = continued
            order[-1] = (last_key, continued)
            continue
        else:
            continue
        if key in headers:
            if lists is None:
                lists = {}
            bucket = lists.get(key)
            if bucket is None:
                lists[key] = [headers[key], value]
            else:
                bucket.append(value)
        else:
            headers[key] = value
        order.append((key, value))
        last_key = key
    body = "\n".join(body_lines)
    if body.endswith("--END COMMAND--"):
        body = body[: -len("--END COMMAND--")].rstrip("\n")
    return headers, lists, (order if lists else None), body


@dataclass(frozen=True)
class EventNameFilter:
    """A parser ``frame_filter`` by event name: events named in ``names`` are worth
    parsing, except ``VarSet`` of a variable outside ``variables``. Frames that are not
    events are always accepted. (The C frame loop applies the same rule.)"""

    names: frozenset[bytes]
    variables: frozenset[bytes]

    def __call__(self, frame: bytes) -> bool:
        if not frame.startswith(b"Event: "):
            return True
        eol = frame.find(b"\n")
        name = frame[7:] if eol < 0 else frame[7:eol]
        if name not in self.names:
            return False
        if name == b"VarSet":
            start = frame.find(_VARIABLE_MARK)
            if start < 0:
                return False
            start += len(_VARIABLE_MARK)
            end = frame.find(b"\n", start)
            return (frame[start:] if end < 0 else frame[start:end]) in self.variables
        return True


_VARIABLE_MARK = b"\nVariable: "


def follows_end(buf: bytes | bytearray, pos: int) -> tuple[int, int]:
    """Where the ``Response: Follows`` frame that starts at ``pos`` ends: ``(end, next)``,
    the end of its bytes and where the next frame starts; ``(-1, -1)`` while undecided.

    A Follows body (``Command`` on Asterisk 11/13) may hold blank lines, so it runs to its
    ``--END COMMAND--`` marker; but a blank line followed by a line that starts a new
    event or response (``Event: ``, ``Response: ``) ends it first: a Follows that lost its
    marker (a stray or truncated response) then costs only itself, never the events after
    it. A blank line at the end of the buffer, or followed by only the start of one of
    those words, waits for more bytes.
    """
    size = len(buf)
    marker = buf.find(_FOLLOWS_MARK, pos)
    limit = size if marker < 0 else marker
    blank = buf.find(b"\n\n", pos, limit)
    while blank >= 0:
        start = blank + 2
        if buf.startswith(_FRAME_STARTS, start):
            return blank, start
        if size - start < _LONGEST_START and any(
            word.startswith(bytes(buf[start:])) for word in _FRAME_STARTS
        ):
            return -1, -1  # undecided until more bytes arrive
        blank = buf.find(b"\n\n", blank + 1, limit)
    if marker < 0:
        return -1, -1
    end = marker + len(_FOLLOWS_MARK)
    return end, (end + 1 if buf.startswith(b"\n", end) else end)


class AmiParser:
    """Incremental AMI parser: feed bytes as they arrive, get whole messages back.

    Line ends are normalised to ``\n`` as bytes arrive (a ``\r`` at the very end of a read
    is held back until the next one), so frames are found with a plain ``find``.
    """

    def __init__(
        self,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        frame_filter: Callable[[bytes], bool] | None = None,
    ) -> None:
        """``frame_filter``: frames starting with ``Event:`` for which it returns False are
        yielded as their bytes, not parsed (nobody reads them; they are only logged)."""
        self._split: Callable[..., tuple[list[ParsedItem], int, int]] | None = None
        self._split_args: tuple[frozenset[bytes] | None, frozenset[bytes]] = (None, frozenset())
        self.frame_filter = frame_filter
        self._buf = bytearray()
        self._held_cr = False
        self._offset = 0
        self._expect_banner = True
        self._discarding = False
        self.max_frame_bytes = max_frame_bytes
        self.banner: str | None = None

    @property
    def frame_filter(self) -> Callable[[bytes], bool] | None:
        """Which event frames are parsed (None: all)."""
        return self._frame_filter

    @frame_filter.setter
    def frame_filter(self, frame_filter: Callable[[bytes], bool] | None) -> None:
        self._frame_filter = frame_filter
        # The C frame loop applies no filter or an EventNameFilter; any other callable
        # filter runs the Python loop.
        self._split = None
        self._split_args = (None, frozenset())
        if speedups is not None and (frame_filter is None or type(frame_filter) is EventNameFilter):
            self._split = speedups.split_frames
            if isinstance(frame_filter, EventNameFilter):
                self._split_args = (frame_filter.names, frame_filter.variables)

    @property
    def pending(self) -> int:
        """Bytes of an unfinished frame held in the buffer."""
        return len(self._buf.strip())

    def reset(self) -> None:
        """Forget any partial frame (call on a new connection)."""
        self._buf.clear()
        self._held_cr = False
        self._expect_banner = True
        self._discarding = False

    def feed(self, data: bytes) -> list[ParsedItem]:
        """Add received bytes; return every complete item they finish."""
        out: list[ParsedItem] = []
        if self._held_cr:
            data = b"\r" + data
            self._held_cr = False
        if data.endswith(b"\r"):
            data = data[:-1]
            self._held_cr = True
        buf = self._buf
        if speedups is not None:
            speedups.append_normalized(buf, data)
        else:
            buf += data.replace(b"\r\n", b"\n")
        pos = 0
        if self._expect_banner:
            if len(buf) < len(BANNER_PREFIX) and BANNER_PREFIX.startswith(bytes(buf)):
                return out
            self._expect_banner = False
            if buf.startswith(BANNER_PREFIX):
                eol = buf.find(b"\n")
                if eol < 0:
                    self._expect_banner = True
                    return out
                line = bytes(buf[len(BANNER_PREFIX) : eol]).rstrip(b"\r")
                self.banner = line.decode("utf-8", "replace").strip()
                out.append(Banner(self.banner))
                pos = eol + 1
        size = len(buf)
        find = buf.find
        keep = self.frame_filter
        split = self._split
        while pos < size:
            if self._discarding:
                end = find(b"\n\n", pos)
                if end < 0:
                    pos = size
                    break
                pos = end + 2
                self._discarding = False
                continue
            if split is not None:
                # C: every ordinary frame up to the last complete one; it stops early only
                # before a Response: Follows frame, which the loop below frames.
                items, pos, stop = split(buf, pos, *self._split_args, parse_frame, self._offset)
                out.extend(items)
                if not stop:
                    break
            if buf[pos] == 10:  # stray blank line between frames
                pos += 1
                continue
            if buf.startswith(_FOLLOWS_START, pos):
                end, nxt = follows_end(buf, pos)
                if end < 0:
                    break
            else:
                end = find(b"\n\n", pos)
                if end < 0:
                    break
                nxt = end + 2
            frame = bytes(buf[pos:end])
            if keep is not None and not keep(frame) and frame.startswith(b"Event: "):
                out.append(frame)
            else:
                out.append(parse_frame(frame, self._offset + pos))
            pos = nxt
        if pos:
            del buf[:pos]
            self._offset += pos
        if len(buf) > self.max_frame_bytes:
            out.append(MalformedFrame(self._offset, "frame larger than the limit", bytes(buf[:80])))
            self._offset += len(buf)
            buf.clear()
            self._discarding = True
        return out


def iter_capture(data: bytes) -> list[ParsedItem]:
    """Parse a whole recorded AMI byte stream (a capture file)."""
    parser = AmiParser(max_frame_bytes=max(DEFAULT_MAX_FRAME_BYTES, len(data) + 1))
    items = parser.feed(data)
    if parser.pending:
        items.extend(parser.feed(b"\r\n\r\n"))
    return items


def encode_action(fields: list[tuple[str, str]]) -> bytes:
    """Encode an action (or, for servers, a message) as AMI bytes with its blank line."""
    return ("".join(f"{k}: {v}\r\n" for k, v in fields) + "\r\n").encode("utf-8")
