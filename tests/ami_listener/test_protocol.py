"""The AMI parser, and each panoramisk 1.4 defect it fixes, proven against the stock one."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from centralita.ami_listener.protocol import (
    AmiMessage,
    AmiParser,
    Banner,
    MalformedFrame,
    iter_capture,
)
from tests.conftest import FIXTURES


def feed_all(chunks: list[bytes]) -> list[Any]:
    parser = AmiParser()
    out: list[Any] = []
    for chunk in chunks:
        out.extend(parser.feed(chunk))
    return out


def stock_panoramisk(chunks: list[bytes]) -> list[dict[str, Any]]:
    """Run panoramisk's own AMIProtocol.data_received on the same chunks."""
    from panoramisk.ami_protocol import AMIProtocol

    got: list[dict[str, Any]] = []

    class Factory:
        save_stream = None

        def dispatch(self, message: Any) -> None:
            got.append(dict(message))

    proto = AMIProtocol()
    proto.connection_made(transport=None)
    proto.factory = Factory()
    proto.encoding = "utf8"
    for chunk in chunks:
        proto.data_received(chunk)
    return got


def test_a_utf8_character_split_across_reads_is_kept() -> None:
    frame = "Event: QueueCallerJoin\r\nCallerIDName: José Peña\r\n\r\n".encode()
    cut = frame.index("é".encode()) + 1  # between the two bytes of "é"
    chunks = [frame[:cut], frame[cut:]]
    (msg,) = feed_all(chunks)
    assert msg.headers["CallerIDName"] == "José Peña"
    # panoramisk 1.4 decodes each chunk with errors ignored and loses the character.
    (stock,) = stock_panoramisk(chunks)
    assert stock["CallerIDName"] != "José Peña"


def test_b_trailing_empty_value_kept_and_no_content_key() -> None:
    chunks = [b"Event: VarSet\r\nVariable: QUEUEWAIT\r\nValue: \r\n\r\n"]
    (msg,) = feed_all(chunks)
    assert msg.headers == {"Event": "VarSet", "Variable": "QUEUEWAIT", "Value": ""}
    (stock,) = stock_panoramisk(chunks)
    assert "Value" not in stock or stock.get("content") is not None


def test_banner_glued_to_first_response_and_values_with_colons() -> None:
    data = (
        b"Asterisk Call Manager/13.0.0\r\nResponse: Success\r\nMessage: Authentication accepted"
        b"\r\n\r\nEvent: Newexten\r\nAppData: a: b: c\r\nChanVariable: X=1\r\n"
        b"ChanVariable: Y=2\r\n\r\n"
    )
    out = feed_all([data[i : i + 7] for i in range(0, len(data), 7)])
    assert out[0] == Banner("13.0.0")
    assert out[1].headers["Message"] == "Authentication accepted"
    assert out[2].headers["AppData"] == "a: b: c"
    assert out[2].values("ChanVariable") == ["X=1", "Y=2"]


def test_bare_newlines_and_follows_body() -> None:
    data = (
        b"Event: Hangup\nUniqueid: 1.1\n\n"
        b"Response: Follows\r\nPrivilege: Command\r\nline one\r\n\r\nline three\r\n"
        b"--END COMMAND--\r\n\r\nEvent: Hangup\r\nUniqueid: 1.2\r\n\r\n"
    )
    out = feed_all([data])
    assert [m.headers.get("Uniqueid") for m in out if m.is_event] == ["1.1", "1.2"]
    follows = out[1]
    assert follows.headers["Response"] == "Follows"
    assert "line one" in follows.body and "line three" in follows.body


def test_garbage_frame_is_reported_and_parsing_goes_on() -> None:
    out = feed_all([b"\x00\xffno colon\r\n\r\nEvent: Hangup\r\nUniqueid: 9\r\n\r\n"])
    assert isinstance(out[0], MalformedFrame)
    assert "Key: value" in out[0].reason
    assert out[1].headers == {"Event": "Hangup", "Uniqueid": "9"}


def test_oversized_frame_is_dropped_without_losing_the_next() -> None:
    parser = AmiParser(max_frame_bytes=1000)
    out = parser.feed(b"Event: X\r\nA: " + b"y" * 5000)
    assert isinstance(out[-1], MalformedFrame)
    out = parser.feed(b"\r\n\r\nEvent: Hangup\r\nUniqueid: 3\r\n\r\n")
    assert [m.headers for m in out if isinstance(m, AmiMessage)] == [
        {"Event": "Hangup", "Uniqueid": "3"}
    ]


def test_capture_parses_identically_in_any_chunking() -> None:
    data = (FIXTURES / "edge-GIT-master-f0c1c1a7b7-scenario.ami").read_bytes()
    whole = [m for m in iter_capture(data) if isinstance(m, AmiMessage)]
    pieces = [
        m
        for m in feed_all([data[i : i + 997] for i in range(0, len(data), 997)])
        if isinstance(m, AmiMessage)
    ]
    assert len(whole) == len(pieces) == 7238
    assert all(
        a.headers == b.headers and a.digest == b.digest for a, b in zip(whole, pieces, strict=True)
    )
    names = {m.headers.get("CallerIDName") for m in whole}
    assert "Søren Mamani" in names and "Çağla Öztürk" in names


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_fuzz_arbitrary_bytes_never_raise(chunks: list[bytes]) -> None:
    parser = AmiParser(max_frame_bytes=2000)
    for chunk in chunks:
        for item in parser.feed(chunk):
            assert isinstance(item, AmiMessage | MalformedFrame | Banner)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Event", "Response", "Uniqueid", "Queue", "Value", "X"]),
            st.text(
                alphabet=st.characters(codec="utf-8", exclude_characters="\r\n"),
                max_size=20,
            ),
        ),
        min_size=1,
        max_size=8,
    ),
    st.integers(min_value=1, max_value=50),
)
def test_fuzz_valid_frames_survive_any_split(fields: list[tuple[str, str]], step: int) -> None:
    fields = [("Event", "Test"), *fields]
    data = "".join(f"{k}: {v}\r\n" for k, v in fields).encode() + b"\r\n"
    out = feed_all([data[i : i + step] for i in range(0, len(data), step)])
    msgs = [m for m in out if isinstance(m, AmiMessage)]
    assert len(msgs) == 1
    expected: dict[str, str] = {}
    for k, v in fields:
        expected.setdefault(k, v)
    assert msgs[0].headers == expected


def _hangups(n: int) -> bytes:
    return b"".join(
        b"Event: Hangup\r\nTimestamp: 1795930000.%06d\r\nUniqueid: 1.%d\r\n\r\n" % (i, i)
        for i in range(n)
    )


def test_stray_follows_without_end_marker_loses_nothing_after_it() -> None:
    """Issue 15 item 5: a Follows that never sends --END COMMAND-- used to swallow every
    event after it (up to the frame limit) and the next Ping reply."""
    data = (
        b"Response: Follows\r\nPrivilege: Command\r\nActionID: c1\r\npartial output\r\n\r\n"
        + _hangups(800)
        + b"Response: Success\r\nActionID: ping-1\r\nPing: Pong\r\n\r\n"
    )
    for step in (1, 5, 4093, len(data)):
        out = feed_all([data[i : i + step] for i in range(0, len(data), step)])
        assert [m.get("Uniqueid") for m in out if m.is_event] == [f"1.{i}" for i in range(800)]
        stray, pong = out[0], out[-1]
        assert stray.headers["ActionID"] == "c1" and stray.body == "partial output"
        assert pong.headers == {"Response": "Success", "ActionID": "ping-1", "Ping": "Pong"}


def test_follows_body_with_blank_lines_and_glued_marker_stays_one_message() -> None:
    """Asterisk 11/13 ``Command`` output: blank lines inside (``queue show``), and the end
    marker glued to the last line when the output has no final newline."""
    data = (
        b"Response: Follows\r\nPrivilege: Command\r\nActionID: q\r\n"
        b"q101 has 0 calls\r\n   No Members\r\n\r\n\r\nq102 has 1 calls\r\n"
        b"Events: on\r\n   No Callers--END COMMAND--\r\n\r\n" + _hangups(1)
    )
    for step in (1, 3, len(data)):
        out = feed_all([data[i : i + step] for i in range(0, len(data), step)])
        assert len(out) == 2 and out[1].get("Uniqueid") == "1.0"
        body = out[0].body
        assert body.startswith("q101 has 0 calls") and body.endswith("No Callers")
        assert "q102 has 1 calls" in body


def test_follows_waits_while_the_line_after_a_blank_is_undecided() -> None:
    parser = AmiParser()
    assert parser.feed(b"Response: Follows\r\nbody\r\n\r\n") == []
    assert parser.feed(b"Eve") == []  # the start of "Event: " or of more body
    out: list[Any] = parser.feed(b"nt: Hangup\r\nUniqueid: 7\r\n\r\n")
    assert [m.headers.get("Uniqueid") for m in out] == [None, "7"]
    assert out[0].body == "body"
    parser = AmiParser()
    assert parser.feed(b"Response: Follows\r\nbody\r\n\r\nEvents are on\r\n") == []
    last: list[Any] = parser.feed(b"--END COMMAND--\r\n\r\n")
    assert len(last) == 1 and last[0].body == "body\nEvents are on"


good_frame = st.builds(
    lambda name, uid: f"Event: {name}\r\nUniqueid: {uid}\r\n\r\n".encode(),
    st.sampled_from(["Hangup", "Newchannel", "QueueCallerJoin"]),
    st.integers(min_value=0, max_value=10**6).map(lambda n: f"1795930000.{n}"),
)
stray = st.one_of(
    st.sampled_from(
        [
            b"Response: Follows\r\n\r\n",
            b"Response: Follows\r\nActionID: 1\r\n\r\n\r\n",
            b"Response: Follows\r\nPrivilege: Command\r\nout\r\n\r\nmore\r\n\r\n",
            b"Response: Follows\r\nx\r\n--END COMMAND--\r\n\r\n",
        ]
    ),
    st.binary(max_size=80).map(lambda junk: b"Response: Follows\r\n" + junk + b"\r\n\r\n"),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), good_frame), max_size=10), stray, st.integers(1, 40))
@example(  # a stray Follows whose body looks like an event header: still a response
    [(True, b"Event: Hangup\r\nUniqueid: 1795930000.0\r\n\r\n")],
    b"Response: Follows\r\nEvent: \x00\r\n\r\n",
    1,
)
def test_fuzz_stray_follows_never_takes_a_good_frame(
    frames: list[tuple[bool, bytes]], follows: bytes, step: int
) -> None:
    data = b"".join((follows if before else b"") + frame for before, frame in frames)
    out = feed_all([data[i : i + step] for i in range(0, len(data), step)])
    got = [m.frame for m in out if isinstance(m, AmiMessage) and m.name]
    assert got == [frame.replace(b"\r\n", b"\n")[:-2] for _before, frame in frames]
