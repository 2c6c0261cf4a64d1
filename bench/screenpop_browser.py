"""Pop-to-paint in the browser: AgentConnect bytes leaving a fake AMI server → the agent's
console page has painted the pop, with N agent pages and M more event-stream clients.

    .venv/bin/python -m bench.screenpop_browser [--rate 2] [--seconds 60] [--pages 20]
        [--streams 200] [--wait 2] [--talk 5]

The daemon is ``centralita.daemon.Daemon`` as ``centralita run`` builds it, with the HTTP
console on (SQLite, routing, the publisher on the real Mosquitto, a users file with one
agent per page, scrypt hashes; IVR off). It is fed over TCP by ``bench.screenpop``'s
``PacedAmiServer``: calls at ``--rate`` per second go round-robin to agents 1..N
(``Local/agentK@lab-agents``, the interface of user ``agenteK``); each call's
QueueCallerJoin comes about ``--wait`` s before its QueueCallerLeave + AgentConnect and
its end about ``--talk`` s after, shifted by a third of the call interval so that a pop
never shares its instant with another call's join or end. The server notes the wall time
just before it writes the AgentConnect bytes.

One headless Chromium (Debian's, ``/usr/bin/chromium``) holds N pages, each in its own
context, signed in through the sign-in form as a different agent on ``/consola``. A script
added before the page's own (``PROBE``) notes, in wall-clock milliseconds
(``performance.timeOrigin + performance.now()``; its offset to Python's ``time.time()``
is measured and printed):

* ``arrive``: the EventSource's ``screenpop`` message (a listener added before agent.js's);
* ``dom``: agent.js's ``centralita:screenpop`` event, dispatched right after it rendered
  the pop (the call's card, or its line under "Siguiente" when a call is already shown);
* ``frame``: the next animation frame (style, layout and paint of that frame follow it);
* ``painted``: a message posted from that frame's callback, which runs once the frame is
  painted: **pop-to-paint** is AgentConnect bytes → this;
* ``raf2``: the animation frame after that (an upper bound: up to one frame later).

The M extra event-stream clients (``/api/pops/stream``, ``--streams``) run in their own
process (httpx, spread evenly over the agents' sessions, one sign-in per agent) and read
every frame for the whole run, so the daemon serves N + M streams; they note when each pop
reached the last of its streams. The daemon process's CPU time and loop lag (a 10 ms
sleep's overshoot) and Chromium's CPU time (its processes under this one) are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import msgspec

from bench import screenpop
from bench.screenpop import SECRET, PacedAmiServer
from centralita.console.sessions import COOKIE
from centralita.console.users import User, hash_password, save_user
from centralita.daemon import Daemon
from centralita.demo import free_port
from centralita.settings import parse_settings

CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "clave-bench-1"

PROBE = """
(() => {
  const wall = () => performance.timeOrigin + performance.now();
  const seen = new Map();  // call_id -> [arrive, dom, frame, painted, raf2]
  window.__paints = seen;
  const Plain = window.EventSource;
  window.EventSource = function (url, options) {
    const source = new Plain(url, options);
    source.addEventListener("screenpop", (e) => {
      const id = JSON.parse(e.data).call_id;
      if (!seen.has(id)) seen.set(id, [wall(), 0, 0, 0, 0]);
    });
    return source;
  };
  window.EventSource.prototype = Plain.prototype;
  document.addEventListener("centralita:screenpop", (e) => {
    const t = seen.get(e.detail.call_id);
    if (!t || t[1]) return;  // not from the stream, or the same call again
    t[1] = wall();
    requestAnimationFrame(() => {
      t[2] = wall();
      const channel = new MessageChannel();
      channel.port1.onmessage = () => { t[3] = wall(); };
      channel.port2.postMessage(0);
      requestAnimationFrame(() => { t[4] = wall(); });
    });
  });
})();
"""


def agent_name(k: int) -> str:
    return f"agente{k:02d}"


def write_users(path: Path, agents: int) -> None:
    """One agent per page, interface ``Local/agentK@lab-agents`` (the paced calls')."""
    hashed = hash_password(PASSWORD)
    for k in range(1, agents + 1):
        interface = f"Local/agent{k}@lab-agents"
        save_user(
            path, User(name=agent_name(k), role="agent", interface=interface, password=hashed)
        )


async def sign_in_cookie(base: str, name: str) -> str:
    """A session cookie of ``name`` (POST /ingresar without Origin: not a browser page)."""
    async with httpx.AsyncClient(base_url=base) as http:
        reply = await http.post("/ingresar", data={"usuario": name, "clave": PASSWORD})
        if reply.status_code != 303:
            raise RuntimeError(f"sign-in of {name}: {reply.status_code} {reply.text[:200]}")
        return str(reply.cookies[COOKIE])


async def wait_http(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as http:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/health")).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError("the daemon's HTTP did not come up")
            await asyncio.sleep(0.05)


# ------------------------------------------------------------------ stream clients
async def read_streams(base: str, cookies: list[str], count: int) -> None:
    """``--stream-clients``: ``count`` streams over ``cookies``; prints ``ready``, then, on
    ``stop`` from stdin, a JSON object: per call id [streams reached, first, last] arrival."""
    arrivals: dict[str, list[float]] = {}
    frames = {"screenpop": 0, "fin": 0, "other": 0}
    connected = 0
    all_connected = asyncio.Event()
    decoder = msgspec.json.Decoder()
    if count == 0:
        all_connected.set()

    async def one(http: httpx.AsyncClient, cookie: str) -> None:
        nonlocal connected
        headers = {"Cookie": f"{COOKIE}={cookie}", "Accept": "text/event-stream"}
        async with http.stream("GET", "/api/pops/stream", headers=headers) as reply:
            if reply.status_code != 200:
                raise RuntimeError(f"stream: {reply.status_code}")
            event = ""
            async for line in reply.aiter_lines():
                if line.startswith(": conectado"):
                    connected += 1
                    if connected == count:
                        all_connected.set()
                elif line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    if event == "screenpop":
                        now = time.time()
                        call_id = decoder.decode(line[6:])["call_id"]
                        seen = arrivals.setdefault(call_id, [0, now, now])
                        seen[0] += 1
                        seen[2] = now
                    frames[event if event in frames else "other"] += 1
                    event = ""

    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=None) as http:
        tasks = [asyncio.create_task(one(http, cookies[i % len(cookies)])) for i in range(count)]
        waiting = asyncio.create_task(all_connected.wait())
        await asyncio.wait([waiting, *tasks], timeout=60, return_when=asyncio.FIRST_COMPLETED)
        if not all_connected.is_set():
            raise RuntimeError(f"only {connected}/{count} streams connected")
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        loop = asyncio.get_running_loop()
        cpu0 = time.process_time()
        await loop.run_in_executor(None, sys.stdin.readline)  # "stop"
        cpu = time.process_time() - cpu0
        broken = sum(1 for t in tasks if t.done())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    out = {"arrivals": arrivals, "frames": frames, "ended_early": broken, "cpu_s": cpu}
    sys.stdout.write(json.dumps(out) + "\n")


@contextlib.asynccontextmanager
async def stream_clients(
    base: str, cookies: list[str], count: int
) -> AsyncIterator[Callable[[], Awaitable[dict[str, Any]]]]:
    """The stream clients in their own process; yields the coroutine function that stops
    them and returns their result."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.screenpop_browser",
        "--stream-clients",
        json.dumps({"base": base, "cookies": cookies, "count": count}),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=64 << 20,
    )
    assert proc.stdout is not None
    assert proc.stdin is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 90)
    if line.strip() != b"ready":
        raise RuntimeError(f"stream clients did not start: {line!r}")

    async def result() -> dict[str, Any]:
        assert proc.stdout is not None
        assert proc.stdin is not None
        proc.stdin.write(b"stop\n")
        await proc.stdin.drain()
        out = await asyncio.wait_for(proc.stdout.readline(), 60)
        await proc.wait()
        parsed: dict[str, Any] = json.loads(out)
        return parsed

    try:
        yield result
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()


# ------------------------------------------------------------------------ browser
async def open_pages(browser: Any, base: str, agents: int) -> list[Any]:
    """One page per agent, each in its own context, signed in through the form."""

    async def one(k: int) -> Any:
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        await context.add_init_script(script=PROBE)
        page = await context.new_page()
        await page.goto(f"{base}/ingresar")
        await page.fill("input[name=usuario]", agent_name(k))
        await page.fill("input[name=clave]", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{base}/consola")
        await page.wait_for_selector("#link.on", timeout=30_000)  # its event stream is open
        return page

    return list(await asyncio.gather(*(one(k) for k in range(1, agents + 1))))


async def clock_offset_ms(page: Any) -> tuple[float, float]:
    """The page's wall clock minus Python's (midpoint), and the uncertainty (half the
    round trip), in ms; the best of 20 tries."""
    best = (0.0, float("inf"))
    for _ in range(20):
        before = time.time() * 1000
        theirs = await page.evaluate("performance.timeOrigin + performance.now()")
        after = time.time() * 1000
        half = (after - before) / 2
        if half < best[1]:
            best = (float(theirs) - (before + half), half)
    return best


async def paints_of(page: Any) -> dict[str, list[float]]:
    got: dict[str, list[float]] = await page.evaluate("Object.fromEntries(window.__paints)")
    return got


# ------------------------------------------------------------------------ helpers
def tree_cpu_s(root: int) -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) of each descendant process of ``root``, by pid."""
    children: dict[int, list[int]] = {}
    stats: dict[int, tuple[str, float]] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        pid, ppid = int(entry), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        stats[pid] = (name, (int(fields[11]) + int(fields[12])) / tick)
    found: dict[int, tuple[str, float]] = {}
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        if pid in stats:
            found[pid] = stats[pid]
        todo.extend(children.get(pid, []))
    return found


def note_bus(bus: Any) -> dict[str, float]:
    """Wall time each pop reaches the in-process bus (the streams' source), by call id."""
    noted: dict[str, float] = {}
    deliver = bus.deliver

    def delivered(item: Any) -> None:
        if item.kind == "screenpop":
            noted.setdefault(item.call_id, time.time())
        deliver(item)

    bus.deliver = delivered
    return noted


class LoopLag:
    """How late a 10 ms sleep in the daemon's loop wakes up (its responsiveness)."""

    def __init__(self) -> None:
        self.lags_ms: list[float] = []

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(0.01)
            self.lags_ms.append((loop.time() - start - 0.01) * 1000)


def summary(values: list[float]) -> str:
    if len(values) < 2:
        return "n/a"
    values = sorted(values)
    q = statistics.quantiles(values, n=100, method="inclusive")
    return (
        f"p50 {statistics.median(values):6.1f}  p95 {q[94]:6.1f}  p99 {q[98]:6.1f}  "
        f"max {values[-1]:6.1f} ms"
    )


# ------------------------------------------------------------------------------ run
async def run(args: argparse.Namespace) -> list[str]:
    from playwright.async_api import async_playwright

    screenpop.AGENTS = args.pages  # the paced calls go round-robin to agents 1..pages
    pbx = f"benchweb{os.getpid()}"
    total = int(args.rate * args.seconds)
    # A third of the call interval apart: a pop never shares its instant with another
    # call's join (its customer lookup) or end (the work-item update, the "fin" frames).
    period = 1.0 / args.rate
    wait_s = (round(args.wait / period) + 1 / 3) * period
    talk_s = (round(args.talk / period) + 1 / 3) * period
    server = PacedAmiServer(args.rate, total, wait_s, talk_s)
    ami_port = await server.start()
    http_port = free_port()
    base = f"http://127.0.0.1:{http_port}"
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="screenpop-browser-") as tmp:
        (Path(tmp) / "secret").write_text(SECRET)
        write_users(Path(tmp) / "users.toml", args.pages)
        text = (
            f'pbx_id = "{pbx}"\nreplay_window_s = 0.0\n'
            f'[ami]\nport = {ami_port}\nsecret_file = "{tmp}/secret"\n'
            f'[database]\nurl = "sqlite+aiosqlite:///{tmp}/bench.db"\n'
            f'[mqtt]\nhost = "{args.host}"\nport = {args.port}\n'
            "[ivr]\nenabled = false\n"
            f'[http]\nhost = "127.0.0.1"\nport = {http_port}\n'
            f'users_file = "{tmp}/users.toml"\nstate_dir = "{tmp}"\n'
        )
        daemon = Daemon(parse_settings(text, "<bench>", env={}))
        parts = await daemon.build()
        runner = asyncio.create_task(daemon.run())
        on_bus = note_bus(parts.extra["publisher"].bus)
        lag = LoopLag()
        lagging: asyncio.Task[None] | None = None
        publisher = parts.extra["publisher"]
        try:
            await wait_http(base)
            cookies = [await sign_in_cookie(base, agent_name(k)) for k in range(1, args.pages + 1)]
            async with (
                stream_clients(base, cookies, args.streams) as streams_result,
                async_playwright() as pw,
            ):
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
                pages = await open_pages(browser, base, args.pages)
                offset, uncertainty = await clock_offset_ms(pages[0])
                await asyncio.wait_for(parts.listener.client.logged_in.wait(), 30)
                while not publisher.stats.connected:
                    await asyncio.sleep(0.01)
                await parts.listener.drain(timeout_s=30)
                gc.collect()  # the start's garbage: a daemon that runs for days is past it
                tree0 = tree_cpu_s(os.getpid())
                cpu0 = time.process_time()
                lagging = asyncio.create_task(lag.run())
                started = time.monotonic()
                server.go.set()
                span = total * period + wait_s + talk_s  # the last call's end
                await asyncio.wait_for(server.finished.wait(), span + 120)
                late = time.monotonic() - started - span
                lagging.cancel()  # what follows is the bench's own work
                # Every pop painted (or 20 s more): each page holds its probe's notes.
                deadline = time.monotonic() + 20
                while True:
                    painted = [await paints_of(p) for p in pages]
                    done = sum(1 for got in painted for t in got.values() if t[3])
                    if done >= total or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.5)
                cpu = time.process_time() - cpu0
                tree1 = tree_cpu_s(os.getpid())
                streamed = await streams_result()
                await browser.close()
        finally:
            if lagging is not None:
                lagging.cancel()
            daemon.stop()
            await asyncio.wait_for(runner, 30)
            await server.close()

    sent = server.sent
    stages: dict[str, list[float]] = {
        k: [] for k in ("arrive", "dom", "frame", "paint", "raf2", "p2p")
    }
    for got in painted:
        for call_id, (arrive, dom, frame, paint, raf2) in got.items():
            if call_id not in sent or not paint:
                continue
            at = sent[call_id] * 1000 + offset  # on the page's clock
            stages["p2p"].append(paint - at)
            stages["arrive"].append(arrive - at)
            stages["dom"].append(dom - arrive)
            stages["frame"].append(frame - dom)
            stages["paint"].append(paint - dom)
            if raf2:
                stages["raf2"].append(raf2 - at)
    bus_ms = [(on_bus[c] - sent[c]) * 1000 for c in on_bus if c in sent]
    streams_last = [
        (last - sent[c]) * 1000
        for c, (_n, _first, last) in streamed["arrivals"].items()
        if c in sent
    ]
    per_pop = [n for n, _f, _l in streamed["arrivals"].values()]
    chromium_cpu = sum(
        cpu_s - tree0.get(pid, ("", 0.0))[1]
        for pid, (name, cpu_s) in tree1.items()
        if "chrom" in name.lower()
    )
    lines.append(
        f"load: {args.rate:g} answered calls/s for {args.seconds:g} s ({total} pops), "
        f"{args.pages} agent pages + {args.streams} event streams "
        f"= {args.pages + args.streams} streams on the daemon"
    )
    p2p = stages["p2p"]
    p99 = statistics.quantiles(p2p, n=100, method="inclusive")[98] if len(p2p) > 1 else None
    met = p99 is not None and p99 < 100 and len(p2p) == total
    lines.append(
        f"pop-to-paint: {len(p2p)}/{total} painted  {summary(p2p)}  "
        f"(goal p99 < 100 ms: {'met' if met else 'NOT met'})"
    )
    lines.append(f"  sent → pop on the daemon's bus {summary(bus_ms)}")
    lines.append(f"  sent → EventSource message  {summary(stages['arrive'])}")
    lines.append(f"  message → rendered (agent.js) {summary(stages['dom'])}")
    lines.append(f"  rendered → animation frame   {summary(stages['frame'])}")
    lines.append(f"  rendered → painted           {summary(stages['paint'])}")
    lines.append(f"  sent → 2nd animation frame   {summary(stages['raf2'])}")
    lines.append(
        f"  sent → last of its extra streams {summary(streams_last)} "
        f"({len(streams_last)} pops, {min(per_pop, default=0)}-{max(per_pop, default=0)} "
        f"streams each; frames {streamed['frames']}, streams ended early "
        f"{streamed['ended_early']})"
    )
    lines.append(
        f"  daemon loop lag (10 ms sleeps): {summary(lag.lags_ms)}; "
        f"AMI stream {max(0.0, late):.1f} s late"
    )
    lines.append(
        f"  CPU during the run: daemon process {cpu:.1f} s, Chromium {chromium_cpu:.1f} s, "
        f"stream clients {streamed['cpu_s']:.1f} s; page clock − Python clock "
        f"{offset:+.2f} ± {uncertainty:.2f} ms; load average {os.getloadavg()[0]:.2f}"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=float, default=2.0, help="answered calls per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--wait", type=float, default=2.0, help="queue wait before the answer")
    parser.add_argument("--talk", type=float, default=5.0, help="talk time of each call")
    parser.add_argument("--pages", type=int, default=20, help="agent pages in Chromium")
    parser.add_argument("--streams", type=int, default=200, help="extra event-stream clients")
    parser.add_argument("--host", default="127.0.0.1", help="MQTT broker")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--stream-clients", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stream_clients:
        given = json.loads(args.stream_clients)
        asyncio.run(read_streams(given["base"], given["cookies"], given["count"]))
        return
    from centralita.logs import configure_logging

    configure_logging(quiet=True)
    logging.getLogger().setLevel(logging.WARNING)
    for line in asyncio.run(run(args)):
        print(line)


if __name__ == "__main__":
    main()
