"""The wallboard against the simulator's truth: a daemon (built as ``centralita run``
builds it) on the simulated PBX over AMI; at three instants of the PBX's own clock the
per-agent states and counts of ``/api/muro`` equal the simulator's agents.

The simulator reports a ringing member as Asterisk does with Local channels (device
``Status: 2``, in use), so the truth's "busy" is "ringing or talking"; paused means paused
in every queue the agent serves."""

from __future__ import annotations

from pathlib import Path

import httpx
import msgspec

from centralita.console.users import User, hash_password, save_user
from centralita.daemon import Daemon
from centralita.demo import free_port
from centralita.settings import parse_settings
from centralita.simulator.config import Behaviour, lab_config
from centralita.simulator.model import Engine
from centralita.simulator.runner import Simulator
from tests.integration.helpers import SECRET, settle
from tests.integration.test_4639999_weekend import running

PASSWORD = "clave-segura-12"


def truth_states(engine: Engine) -> dict[str, str]:
    out = {}
    for interface, agent in engine.agents.items():
        ms = [m for q in engine.queues.values() if (m := q.member(interface)) is not None]
        if not ms:
            continue
        if not agent.free:
            out[interface] = "on_call"
        elif all(m.paused for m in ms):
            out[interface] = "paused"
        else:
            out[interface] = "available"
    return out


def settings(tmp_path: Path, db_url: str, ami: int, ivr: int, http: int) -> str:
    (tmp_path / "ami.secret").write_text(SECRET + "\n", "utf-8")
    save_user(
        tmp_path / "users.toml",
        User(name="sofia", role="supervisor", password=hash_password(PASSWORD)),
    )
    return f"""
pbx_id = "pbx-12"
[ami]
port = {ami}
secret_file = "{tmp_path / "ami.secret"}"
ping_interval_s = 30.0
[database]
url = "{db_url}"
[ivr]
host = "127.0.0.1"
port = {ivr}
[http]
port = {http}
users_file = "{tmp_path / "users.toml"}"
"""


async def test_wallboard_states_and_counts_equal_the_simulator_truth(
    db_url: str, tmp_path: Path
) -> None:
    base = lab_config(calls=60)
    config = msgspec.structs.replace(
        base, behaviour=msgspec.structs.replace(base.behaviour, pause_mean_interval_s=90.0)
    )
    assert isinstance(config.behaviour, Behaviour)
    ivr, http_port = free_port(), free_port()
    seen: list[dict[str, str]] = []
    async with Simulator(
        config, seed=12, speed=None, secret=SECRET, agi_address=("127.0.0.1", ivr)
    ) as sim:
        text = settings(tmp_path, db_url, sim.port, ivr, http_port)
        daemon = Daemon(parse_settings(text, "centralita.toml", env={}))
        await daemon.build()
        async with running(daemon) as parts:
            parts.extra["live"].clock = sim.clock  # the wallboard reads the PBX's clock
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}") as http:
                r = await http.post("/ingresar", data={"usuario": "sofia", "clave": PASSWORD})
                assert r.status_code == 303, r.text
                for _instant in range(3):
                    await sim.advance(75.0)
                    await settle(parts.listener)
                    board = (await http.get("/api/muro")).json()
                    truth = truth_states(sim.engine)
                    got = {a["interface"]: a["state"] for a in board["agents"]}
                    assert got == truth
                    counts = {s: list(truth.values()).count(s) for s in board["totals"]}
                    assert board["totals"] == counts
                    for row in board["queues"]:
                        members = [a for a in board["agents"] if row["queue"] in a["queues"]]
                        busy = [a for a in members if a["state"] == "on_call"]
                        assert row["on_call"] == len(busy)
                    for a in board["agents"]:
                        if a["state"] == "paused":
                            ms = [q.member(a["interface"]) for q in sim.engine.queues.values()]
                            reasons = {m.reason for m in ms if m is not None and m.paused}
                            assert a["pause_reason"] in reasons
                    seen.append(got)
    states = {s for got in seen for s in got.values()}
    assert "on_call" in states  # the instants are not all idle
    assert "available" in states
