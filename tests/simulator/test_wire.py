"""The simulator's own AMI wire code, and its independence from the listener's."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from centralita import simulator
from centralita.simulator.wire import ActionReader, encode, parse_event

SIMULATOR_DIR = Path(simulator.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)  # and each name, which may be a module (from x import y)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_no_simulator_module_imports_the_listener() -> None:
    files = sorted(SIMULATOR_DIR.rglob("*.py"))
    assert len(files) > 10
    offenders = {
        str(path.relative_to(SIMULATOR_DIR)): sorted(
            m
            for m in _imported_modules(path)
            if m.startswith(("centralita.ami_listener.", "ami_listener."))
            or m in {"centralita.ami_listener", "ami_listener"}
        )
        for path in files
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_ast_check_sees_an_import() -> None:
    # The check above would pass vacuously if it could not see imports.
    modules = _imported_modules(SIMULATOR_DIR / "runner.py")
    assert "centralita.simulator.server" in modules


def test_encode_writes_crlf_lines_and_a_blank_line() -> None:
    data = encode([("Event", "QueueCallerJoin"), ("CallerIDName", "José Peña"), ("Empty", "")])
    assert data == "Event: QueueCallerJoin\r\nCallerIDName: José Peña\r\nEmpty: \r\n\r\n".encode()


def test_action_reader_frames_on_bytes_across_reads() -> None:
    stream = (
        b"Action: Login\r\nUsername: centralita\r\nSecret: a:b\r\n\r\n"
        b"action: Ping\nActionID: p-1\nActionID: ignored\n\n"
        + "Action: QueuePause\r\nReason: almuerzo ñandú\r\n\r\n".encode()
    )
    whole = ActionReader().feed(stream)
    assert whole == [
        {"action": "Login", "username": "centralita", "secret": "a:b"},
        {"action": "Ping", "actionid": "p-1"},
        {"action": "QueuePause", "reason": "almuerzo ñandú"},
    ]
    # Every split point, one byte at a time included: CRLF and UTF-8 cut across reads.
    for cut in range(1, len(stream)):
        reader = ActionReader()
        assert reader.feed(stream[:cut]) + reader.feed(stream[cut:]) == whole
    reader = ActionReader()
    assert [a for i in range(len(stream)) for a in reader.feed(stream[i : i + 1])] == whole


def test_action_reader_skips_blank_frames_and_drops_an_oversized_one() -> None:
    reader = ActionReader(max_action_bytes=64)
    assert reader.feed(b"\r\n\r\n\r\nAction: Ping\r\n\r\n") == [{"action": "Ping"}]
    assert reader.feed(b"X-Junk: " + b"x" * 100) == []
    assert reader.discarded == 1
    assert reader.feed(b"\r\n\r\nAction: Ping\r\n\r\n") == [{"action": "Ping"}]


@pytest.mark.parametrize("eol", [b"\r\n", b"\n"])
def test_parse_event_splits_at_the_first_colon_space(eol: bytes) -> None:
    frame = eol.join(
        [b"Event: VarSet", b"Value: a: b", b"ChanVariable(Local/1@x-1;1): CHANNEL(linkedid)=1.2",
         b"Value: second", b"no colon"]
    )  # fmt: skip
    name, headers = parse_event(frame)
    assert name == "VarSet"
    assert headers["Value"] == "a: b"
    assert headers["ChanVariable(Local/1@x-1;1)"] == "CHANNEL(linkedid)=1.2"
