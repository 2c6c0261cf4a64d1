"""The C extension (``ami_listener._speedups``) against its pure-Python references.

Each C function must give exactly what the Python reference gives, for the real captures
and for arbitrary input (hypothesis): the same log rows and keys (an event stored by one
and ingested again by the other must not be stored twice), the same frames, the same
headers. Skipped where the extension is not built, except under ``.ci/run``, where it must
be (``CENTRALITA_REQUIRE_SERVICES``).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from centralita.ami_listener import eventlog, protocol
from centralita.ami_listener.events import frame_worth_decoding
from centralita.ami_listener.protocol import AmiMessage, AmiParser, Banner, MalformedFrame
from tests.conftest import FIXTURES

speedups: Any = protocol.speedups
if speedups is None:
    if os.environ.get("CENTRALITA_REQUIRE_SERVICES") and not os.environ.get(
        "CENTRALITA_NO_SPEEDUPS"
    ):
        pytest.fail("the C extension ami_listener._speedups was not built", pytrace=False)
    pytest.skip("the C extension ami_listener._speedups is not built", allow_module_level=True)

CAPTURES = sorted(FIXTURES.glob("*.ami"))

# Header values that test the edges: Timestamps that are not numbers, not finite, out of
# range, with spaces or underscores (float() accepts both), non-ASCII, empty.
TIMESTAMPS = [
    "1795930000.123456",
    "1795930000.0005",
    "0",
    "-1",
    "inf",
    "-inf",
    "nan",
    "1e30",
    "281474976710.655",
    "281474976710.656",
    " 1795930000.5 ",
    "1_795_930_000",
    "",
    "abc",
    "١٢٣",
    "0x10",
]
text = st.text(max_size=40)
header_key = st.sampled_from(
    ["Event", "Timestamp", "Uniqueid", "Linkedid", "Queue", "Variable", "Channel", "X"]
)
header_value = st.one_of(text, st.sampled_from(TIMESTAMPS))


@st.composite
def frames(draw: Any) -> bytes:
    """An event-like frame, sometimes broken: any headers, any values, any encoding."""
    if draw(st.booleans()):
        junk: bytes = draw(st.binary(max_size=200))
        return junk.replace(b"\n\n", b"\n")
    lines = [f"Event: {draw(st.sampled_from(['VarSet', 'Newexten', 'QueueCallerJoin', '']))}"]
    for key, value in draw(st.lists(st.tuples(header_key, header_value), max_size=8)):
        lines.append(f"{key}: {value}")
    encoding = draw(st.sampled_from(["utf-8", "latin-1"]))
    data = "\n".join(lines).encode(encoding, "replace")
    return data.replace(b"\n\n", b"\n").strip(b"\n")


def rows_both(span: bytes, received_ms: int = 1_795_930_000_123) -> tuple[Any, Any]:
    return (
        speedups.span_rows("pbx-1", span, received_ms),
        eventlog.py_span_rows("pbx-1", span, received_ms),
    )


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name)
def test_span_rows_equal_on_every_capture(capture: Any) -> None:
    data = capture.read_bytes().replace(b"\r\n", b"\n")
    frames_ = [f for f in data.split(b"\n\n") if f.strip(b"\n")]
    c_rows, py_rows = rows_both(eventlog.join_frames(frames_))
    assert len(c_rows) == len(frames_) > 20
    assert c_rows == py_rows


@settings(max_examples=400, deadline=None)
@given(st.lists(frames(), max_size=6), st.integers(min_value=0, max_value=1 << 50))
def test_span_rows_equal_on_arbitrary_frames(frame_list: list[bytes], received_ms: int) -> None:
    c_rows, py_rows = rows_both(eventlog.join_frames(frame_list), received_ms)
    assert c_rows == py_rows


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_span_rows_equal_on_arbitrary_bytes(span: bytes) -> None:
    c_rows, py_rows = rows_both(span)
    assert c_rows == py_rows


@pytest.mark.parametrize("value", TIMESTAMPS)
def test_timestamp_edges_never_overflow_a_column(value: str) -> None:
    (row,) = speedups.span_rows("p", f"Event: X\nTimestamp: {value}".encode(), 0)
    assert row == eventlog.py_span_rows("p", f"Event: X\nTimestamp: {value}".encode(), 0)[0]
    ts_ms = row[3]
    assert ts_ms is None or 0 <= ts_ms < 1 << 48
    assert int.from_bytes(row[1][:6], "big") == (ts_ms or 0)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.text(max_size=120),
        st.text(alphabet="ab: \n:", max_size=60),  # ASCII: the C byte scan
        st.lists(st.tuples(text, text), max_size=6).map(
            lambda kv: "\n".join(f"{k}: {v}" for k, v in kv)
        ),
    )
)
def test_split_headers_equal(message: str) -> None:
    assert speedups.split_headers(message) == protocol.py_fast_headers(message)


PICK_KEYS = ("Event", "Queue", "Uniqueid", "a", "b", "Timestamp")


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.text(alphabet="ab: \n:\rQ", max_size=60),
        st.lists(st.tuples(st.sampled_from([*PICK_KEYS, "X", "", "é"]), text), max_size=8).map(
            lambda kv: "\n".join(f"{k}: {v}" for k, v in kv)
        ),
    )
)
def test_pick_headers_equal_and_agree_with_the_full_split(message: str) -> None:
    picked = speedups.pick_headers(message, PICK_KEYS)
    assert picked == protocol.py_pick_headers(message, PICK_KEYS)
    full = AmiMessage(raw=message).headers  # whatever pick leaves to the full split
    expected = {key: full[key] for key in PICK_KEYS if key in full}
    assert AmiMessage(raw=message).pick(PICK_KEYS) == expected
    if picked is not None:
        assert picked == expected


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=40), st.lists(st.sampled_from([b"\r", b"\n", b"\r\n", b"a", b"\r\r\n"])))
def test_append_normalized_equals_replace(prefix: bytes, parts: list[bytes]) -> None:
    data = b"".join(parts)
    buf = bytearray(prefix)
    speedups.append_normalized(buf, data)
    assert bytes(buf) == prefix + data.replace(b"\r\n", b"\n")


def _items(parser: AmiParser, chunks: list[bytes]) -> list[Any]:
    out: list[Any] = []
    for chunk in chunks:
        for item in parser.feed(chunk):
            if isinstance(item, AmiMessage):
                fresh = (item.parsed, item._digest)  # as built, before any use
                out.append(("msg", item.frame, item.raw, item.body, item.name, fresh))
                out.append((item.headers, item.lists, item.pairs(), item.digest, item.is_event))
            elif isinstance(item, MalformedFrame):
                out.append(("bad", item.offset, item.reason, item.excerpt))
            elif isinstance(item, Banner):
                out.append(("banner", item.version))
            else:
                out.append(("bytes", item))
    out.append(("pending", parser.pending))
    return out


def _parsers(frame_filter: Any, max_frame_bytes: int) -> tuple[AmiParser, AmiParser]:
    fast = AmiParser(max_frame_bytes=max_frame_bytes, frame_filter=frame_filter)
    slow = AmiParser(max_frame_bytes=max_frame_bytes, frame_filter=frame_filter)
    assert fast._split is not None
    slow._split = None  # the Python frame loop
    return fast, slow


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name)
@pytest.mark.parametrize("frame_filter", [None, frame_worth_decoding], ids=["all", "filtered"])
def test_frame_loop_equal_on_every_capture(capture: Any, frame_filter: Any) -> None:
    data = capture.read_bytes()
    chunks = [data[i : i + 4093] for i in range(0, len(data), 4093)]
    fast, slow = _parsers(frame_filter, protocol.DEFAULT_MAX_FRAME_BYTES)
    got = _items(fast, chunks)
    assert got == _items(slow, chunks)
    if frame_filter is not None:
        assert any(kind == "bytes" for kind, *_ in got)


follows = (
    b"Response: Follows\r\nPrivilege: Command\r\nline 1\r\n\r\nline 3\r\n--END COMMAND--\r\n\r\n"
)
pieces = st.sampled_from(
    [
        b"Asterisk Call Manager/5.0.1\r\n",
        b"Event: VarSet\r\nVariable: CC_SERVICE\r\nValue: 101\r\n\r\n",
        b"Event: VarSet\r\nVariable: OTHER\r\nValue: x\r\n\r\n",
        b"Event: Newexten\r\nUniqueid: 1.1\r\n\r\n",
        b"Event: QueueCallerJoin\r\nQueue: q\r\nUniqueid: 1.2\r\n\r\n",
        b"Response: Success\r\nActionID: 7\r\n\r\n",
        follows,
        # A Follows without its end marker ends where a new event or response starts;
        # pieces that split a frame start or a marker test the undecided waits.
        b"Response: Follows\r\nActionID: 8\r\nno marker\r\n\r\n",
        b"Response: Follows\r\n",
        b"--END COMMAND--\r\n\r\n",
        b"Eve",
        b"Respon",
        b"\r\n",
        b"\n\n\n",
        b"garbage without a colon\r\n\r\n",
        "Event: UserEvent\r\nName: José\r\n\r\n".encode(),
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(pieces, st.binary(max_size=60)), max_size=12),
    st.integers(min_value=1, max_value=97),
    st.sampled_from([None, frame_worth_decoding]),
)
def test_frame_loop_equal_on_arbitrary_streams(
    parts: list[bytes], step: int, frame_filter: Any
) -> None:
    data = b"".join(parts)
    chunks = [data[i : i + step] for i in range(0, len(data), step)]
    fast, slow = _parsers(frame_filter, 300)
    assert _items(fast, chunks) == _items(slow, chunks)


def test_event_name_filter_matches_the_c_rule() -> None:
    frames_ = [
        b"Event: VarSet\nVariable: CC_SERVICE\nValue: 1",
        b"Event: VarSet\nVariable: OTHER",
        b"Event: VarSet",
        b"Event: Newexten\nX: y",
        b"Event: QueueCallerJoin",
        b"Response: Success",
    ]
    fast = AmiParser(frame_filter=frame_worth_decoding)
    kept = [not isinstance(item, bytes) for item in fast.feed(b"\n\n".join(frames_) + b"\n\n")]
    assert kept == [frame_worth_decoding(f) for f in frames_]
    assert kept == [True, False, False, False, True, True]


_PROBE = """
import hashlib, sys
from centralita.ami_listener import eventlog, protocol
from centralita.ami_listener.events import frame_worth_decoding
data = open(sys.argv[1], "rb").read()
parser = protocol.AmiParser(frame_filter=frame_worth_decoding)
items = parser.feed(data)
frames = [
    i if isinstance(i, bytes) else i.frame for i in items if not isinstance(i, protocol.Banner)
]
rows = eventlog.span_rows("p", eventlog.join_frames(frames), 1795930000.25)
print(protocol.speedups is None, parser._split is None, len(rows))
print(hashlib.sha256(repr(rows).encode()).hexdigest())
"""


@pytest.mark.parametrize(
    ("no_speedups", "no_avx2"), [("", ""), ("1", ""), ("", "1")], ids=["c", "python", "c-no-avx2"]
)
def test_the_pure_python_build_gives_the_same_log(no_speedups: str, no_avx2: str) -> None:
    """A machine without a C compiler (CENTRALITA_NO_SPEEDUPS=1 stands in for it), or
    without AVX2 (the portable BLAKE2b: CENTRALITA_NO_AVX2=1)."""
    import subprocess
    import sys

    capture = FIXTURES / "GIT-master-f0c1c1a7b7-scenario.ami"
    env = {**os.environ, "CENTRALITA_NO_SPEEDUPS": no_speedups, "CENTRALITA_NO_AVX2": no_avx2}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(capture)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split("\n")
    flags, digest = out[0].split(), out[1]
    assert flags[:2] == [str(bool(no_speedups))] * 2
    parser = AmiParser(frame_filter=frame_worth_decoding)
    items = parser.feed(capture.read_bytes())
    frames_ = [
        i if isinstance(i, bytes) else i.frame for i in items if isinstance(i, bytes | AmiMessage)
    ]
    rows = eventlog.span_rows("p", eventlog.join_frames(frames_), 1795930000.25)
    assert int(flags[2]) == len(rows) > 1000
    import hashlib

    assert digest == hashlib.sha256(repr(rows).encode()).hexdigest()


@pytest.mark.parametrize("size", [0, 1, 127, 128, 129, 255, 256, 257, 1000, 4096])
def test_log_key_digest_at_block_boundaries(size: int) -> None:
    """The C BLAKE2b against hashlib's, around its 128-byte blocks."""
    import hashlib
    import random

    frame = bytes(random.Random(size).choice(b"abc\xc3\xa9:\n ") for _ in range(size))
    frame = frame.replace(b"\n\n", b"\n.")
    (row,) = speedups.span_rows("p", frame, 0) if frame else [None]
    if row is None:  # an empty span has no row: hash an empty frame inside a longer span
        row = speedups.span_rows("p", b"\n\nx", 0)[0]
    assert row[1][6:] == hashlib.blake2b(frame, digest_size=10).digest()


@pytest.mark.parametrize("capture", CAPTURES[:4], ids=lambda p: p.name)
def test_sqlite_params_equal_and_round_trip_to_the_same_rows(capture: Any) -> None:
    import sqlite3

    from centralita.ami_listener import store

    data = capture.read_bytes().replace(b"\r\n", b"\n")
    frames_ = [f for f in data.split(b"\n\n") if f.strip(b"\n")][:400]
    rows = eventlog.py_span_rows("p", eventlog.join_frames(frames_), 5)
    rows.append(("p", b"\x00" * 16, "", None, 5, None, None, None, ""))  # every NULL
    params = speedups.sqlite_params(rows)
    assert params == store.py_sqlite_params(rows)
    assert {type(v) for v in params} <= {str, int, bytearray}  # no adapter lookups
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE TABLE ami_events (id INTEGER PRIMARY KEY, pbx_id, digest, event, ts_ms,"
        " received_ms, uniqueid, linkedid, queue, raw, UNIQUE (pbx_id, digest))"
    )
    for start in range(0, len(rows), 100):
        chunk = rows[start : start + 100]
        conn.execute(store._sqlite_multi(len(chunk)), speedups.sqlite_params(chunk))
    stored = conn.execute(
        "SELECT pbx_id, digest, event, ts_ms, received_ms, uniqueid, linkedid, queue, raw"
        " FROM ami_events ORDER BY id"
    ).fetchall()
    unique = list({row[1]: row for row in rows}.values())  # OR IGNORE drops repeats
    assert stored == unique


def test_message_type_with_other_slots_is_refused() -> None:
    """The C loop writes AmiMessage's slots directly: a changed class must be refused."""

    class Other:
        __slots__ = ("raw",)

    with pytest.raises(TypeError, match="slots"):
        speedups.set_message_type(Other)
    speedups.set_message_type(AmiMessage)  # what protocol.py registers stays valid
