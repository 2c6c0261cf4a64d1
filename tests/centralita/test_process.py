"""`centralita run` as an operator starts it: a separate process, stopped by SIGTERM, and
refused at start when its HTTP port is taken."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import uuid
from pathlib import Path

import aiomqtt
import pytest

from centralita.simulator.capture_server import CaptureServer
from tests.brokers import free_port
from tests.conftest import FIXTURES

SECRET = "process-test-secret-7"
pytestmark = pytest.mark.timeout(90)


def write_config(tmp_path: Path, *, ami_port: int, http_port: int, mqtt: str = "") -> Path:
    secret = tmp_path / "ami.secret"
    secret.write_text(SECRET + "\n")
    config = tmp_path / "centralita.toml"
    config.write_text(
        f'pbx_id = "proc{uuid.uuid4().hex[:6]}"\n'
        f'[ami]\nport = {ami_port}\nsecret_file = "{secret}"\n'
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "d.db"}"\n'
        f"[mqtt]\n{mqtt}\n"
        "[ivr]\nenabled = false\n"
        f"[http]\nport = {http_port}\n"
    )
    return config


def daemon_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CENTRALITA_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.mark.parametrize("debug", [False, True])
async def test_http_port_in_use_is_one_spanish_line_before_any_ingestion(
    tmp_path: Path, debug: bool
) -> None:
    connections = 0

    async def accept(_r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()

    ami = await asyncio.start_server(accept, "127.0.0.1", 0)
    ami_port = ami.sockets[0].getsockname()[1]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        http_port = taken.getsockname()[1]
        config = write_config(tmp_path, ami_port=ami_port, http_port=http_port)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "centralita.cli",
            *(["--debug"] if debug else []),
            "run",
            "--config",
            str(config),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=daemon_env(),
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    ami.close()
    await ami.wait_closed()
    text = err.decode("utf-8")
    assert proc.returncode == 1
    assert connections == 0  # the AMI was never reached: nothing was ingested
    assert not (tmp_path / "d.db").exists()  # nor was the database opened
    assert f"127.0.0.1:{http_port} ya está en uso" in text
    assert out == b""
    if debug:
        assert "Traceback" in text
    else:
        lines = text.strip().splitlines()
        assert len(lines) == 1, text
        assert lines[0].startswith("centralita: la dirección HTTP")
        assert "[http]" in lines[0]


async def test_sigterm_stops_cleanly_with_no_error_logged(
    tmp_path: Path, mqtt_broker: tuple[str, int]
) -> None:
    """Daemon connected to the AMI and to Mosquitto, pops and call events published, then
    SIGTERM: exit 0 and not one error line (it used to log asyncio's "Bad file descriptor"
    from the MQTT client at every stop)."""
    host, port = mqtt_broker
    data = (FIXTURES / "GIT-master-f0c1c1a7b7-scenario.ami").read_bytes()
    server = CaptureServer(data, secret=SECRET)
    ami_port = await server.start()
    config = write_config(
        tmp_path,
        ami_port=ami_port,
        http_port=free_port(),
        mqtt=f'host = "{host}"\nport = {port}',
    )
    pbx = config.read_text().split('"')[1]
    async with aiomqtt.Client(host, port, identifier=f"t-{pbx}") as sub:
        await sub.subscribe(f"centralita/{pbx}/#", qos=1)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "centralita.cli",
            "run",
            "--config",
            str(config),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=daemon_env(),
        )
        assert proc.stderr is not None
        stderr = asyncio.create_task(proc.stderr.read())
        try:
            pops = 0
            async with asyncio.timeout(60):
                async for message in sub.messages:
                    if str(message.topic).endswith("/screenpop"):
                        pops += 1
                    if pops >= 3:
                        break
            proc.send_signal(signal.SIGTERM)
            returncode = await asyncio.wait_for(proc.wait(), 60)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await server.close()
    lines = [json.loads(line) for line in (await stderr).decode().splitlines() if line.strip()]
    assert returncode == 0
    events = [line["event"] for line in lines]
    assert "mqtt_connected" in events
    assert "daemon_stopping" in events
    assert [line for line in lines if line["level"] in ("error", "critical")] == []
