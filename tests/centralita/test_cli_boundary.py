"""The CLI's error boundary: Ctrl-C and faults of ours are one line, never a traceback
(unless --debug)."""

from __future__ import annotations

import argparse

import pytest

from centralita import cli


def _parser_running(func: object) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="centralita")
    parser.add_argument("--debug", action="store_true")
    parser.set_defaults(func=func)
    return parser


def test_an_unexpected_fault_is_one_line_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(_args: argparse.Namespace) -> int:
        raise RuntimeError("disco lleno\nsegunda línea")

    monkeypatch.setattr(cli, "build_parser", lambda: _parser_running(broken))
    assert cli.main([]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "error inesperado (RuntimeError: disco lleno)" in err and "--debug" in err
    with pytest.raises(RuntimeError):
        cli.main(["--debug"])


def test_ctrl_c_anywhere_is_one_line_exit_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted() -> argparse.ArgumentParser:
        raise KeyboardInterrupt  # while the sub-commands are still being imported

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli.main([]) == 130
    assert capsys.readouterr().err == "centralita: interrumpido (Ctrl-C)\n"

    def stopped(_args: argparse.Namespace) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", lambda: _parser_running(stopped))
    assert cli.main([]) == 130
    with pytest.raises(KeyboardInterrupt):
        cli.main(["--debug"])
