"""`customers import`, `ivr prompts`, and `ivr serve` as a real process stopped by SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from centralita.cli import open_db
from centralita.ivr.app import serve_until
from centralita.ivr.commands import register
from centralita.ivr.directory import StaticCustomerDirectory
from centralita.ivr.flow_config import IvrConfig
from centralita.routing import RoutingHolder, default_routing_path
from tests.ivr.fake_asterisk import FakeAsterisk
from tests.ivr.fakes import CUSTOMERS
from tests.ivr.test_customer_import import GOOD


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="centralita")
    parser.set_defaults(open_db=open_db)  # as centralita.cli does: migrated to head
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_customers_import_good_and_bad(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    good = tmp_path / "good.csv"
    good.write_text(GOOD, encoding="utf-8")
    assert run_cli(["customers", "import", str(good), "--db", db]) == 0
    assert f"{good}: 3 clientes importados" in capsys.readouterr().out

    bad = tmp_path / "bad.csv"
    bad.write_text(GOOD + "9,4412345,,Ana,platino,,,\n", encoding="utf-8")
    assert run_cli(["customers", "import", str(bad), "--db", db]) == 1
    err = capsys.readouterr().err
    assert f"{bad}: 1 línea con error, no se importó nada" in err
    assert f"{bad}:5: el segmento «platino» no es uno de vip, corporativo" in err

    cols = tmp_path / "cols.csv"
    cols.write_text("contrato,nombre\n1,Ana\n", encoding="utf-8")
    assert run_cli(["customers", "import", str(cols), "--db", db]) == 1
    assert "faltan las columnas contract, name, segment" in capsys.readouterr().err

    assert run_cli(["customers", "import", str(tmp_path / "none.csv"), "--db", db]) == 2
    assert "none.csv: el archivo no existe; indique otro" in capsys.readouterr().err


def test_ivr_serve_with_an_invalid_routing_says_the_shared_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    routing = tmp_path / "routing.toml"
    routing.write_text('version = 1\n[[service]]\nkey = "101"\nname = 7\n', encoding="utf-8")
    db = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    assert run_cli(["ivr", "serve", "--routing", str(routing), "--db", db]) == 2
    assert capsys.readouterr().err == (
        f"--routing: {routing}: enrutamiento inválido en service[0].name: "
        "se esperaba texto, llegó un número\n"
    )


def test_ivr_prompts_lists_every_sound_with_its_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["ivr", "prompts"]) == 0
    lines = dict(line.split("\t") for line in capsys.readouterr().out.splitlines())
    assert lines["cc-saludo-101"] == "Bienvenido al servicio 101 de Reclamos Técnicos."


async def test_serve_until_stop(ivr_config: IvrConfig) -> None:
    stop = asyncio.Event()
    holder = RoutingHolder(default_routing_path())
    port = _free_port()
    task = asyncio.create_task(
        serve_until(
            stop,
            ivr_config,
            holder,
            StaticCustomerDirectory(CUSTOMERS),
            host="127.0.0.1",
            port=port,
            grace_s=1,
        )
    )
    await _wait_port(port)
    transcript = await FakeAsterisk(port, digits=["2", "100234"]).run()
    assert transcript.event["customer"] == "100234"
    stop.set()
    await asyncio.wait_for(task, 5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_port(port: int, timeout_s: float = 15.0) -> None:
    async with asyncio.timeout(timeout_s):
        while True:
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            await writer.wait_closed()
            return


async def test_ivr_serve_process_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    csv_file = tmp_path / "good.csv"
    csv_file.write_text(GOOD, encoding="utf-8")
    assert await asyncio.to_thread(run_cli, ["customers", "import", str(csv_file), "--db", db]) == 0
    port = _free_port()
    code = (
        "import argparse, sys; from centralita.ivr.commands import register; "
        "from centralita.cli import open_db; "
        "p = argparse.ArgumentParser(); p.set_defaults(open_db=open_db); "
        "register(p.add_subparsers()); "
        "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))"
    )
    argv = ["ivr", "serve", "--routing", str(default_routing_path()), "--db", db]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        *argv,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    try:
        await _wait_port(port)
        transcript = await FakeAsterisk(port, digits=["1", "71234567"]).run()
        assert transcript.event["customer"] == "200999"
        assert transcript.event["result"] == "ok"
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
