"""`centralita simulator run`: serve a seeded simulated PBX over AMI until its calls end."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

SECRET_ENV = "CENTRALITA_SIM_SECRET"  # noqa: S105 - the NAME of the variable, not a secret


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `simulator run`."""
    sim = subparsers.add_parser("simulator", help="an AMI-speaking PBX simulator")
    sub = sim.add_subparsers(dest="simulator_command", metavar="ACTION", required=True)
    run = sub.add_parser(
        "run",
        help="serve a seeded run over AMI (prints the port) until the calls are over",
        description=f"The AMI secret comes from ${SECRET_ENV} (empty when unset); "
        "the username is 'centralita' unless --username is given.",
    )
    run.add_argument("--calls", type=int, required=True, help="number of inbound calls")
    run.add_argument("--seed", type=int, default=1, help="random seed (same seed, same run)")
    run.add_argument("--dialect", choices=("11", "12"), default="12", help="Asterisk dialect")
    run.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="virtual seconds per wall second; 0 = as fast as possible (default 1)",
    )
    run.add_argument("--host", default="127.0.0.1", help="listen address")
    run.add_argument("--port", type=int, default=0, help="AMI port (0 = any free port)")
    run.add_argument("--username", default="centralita", help="AMI username")
    run.add_argument("--agi", metavar="HOST:PORT", help="run a FastAGI session per call here")
    run.add_argument("--load", type=float, default=1.0, help="multiply every arrival rate")
    run.add_argument("--no-noise", action="store_true", help="only the queue-relevant events")
    run.add_argument(
        "--wait-client", action="store_true", help="start the calls when a client logs in"
    )
    run.add_argument("--queue-log", type=Path, help="write the queue_log here at the end")
    run.add_argument("--truth", type=Path, help="write the ground truth JSON here at the end")
    run.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from simulator.config import lab_config
    from simulator.runner import Simulator
    from simulator.truth import write_truth

    if args.calls <= 0:
        sys.stderr.write("--calls must be positive\n")
        return 2
    agi: tuple[str, int] | None = None
    if args.agi:
        host, _, port = args.agi.rpartition(":")
        if not host or not port.isdigit():
            sys.stderr.write("--agi must be HOST:PORT\n")
            return 2
        agi = (host, int(port))
    config = lab_config(
        calls=args.calls, dialect=args.dialect, noise=not args.no_noise, load=args.load
    )

    async def main() -> int:
        sim = Simulator(
            config,
            args.seed,
            speed=args.speed if args.speed > 0 else None,
            host=args.host,
            port=args.port,
            username=args.username,
            secret=os.environ.get(SECRET_ENV, ""),
            agi_address=agi,
        )
        async with sim:
            sys.stdout.write(f"AMI port {sim.port}\n")
            sys.stdout.flush()
            if args.wait_client:
                await sim.wait_for_client(timeout_s=3600.0)
            truth = await sim.run()
            if args.queue_log:
                sim.write_queue_log(str(args.queue_log))
            if args.truth:
                write_truth(truth, args.truth)
            counts = ", ".join(f"{k} {v}" for k, v in sorted(truth.outcome_counts().items()))
            sys.stdout.write(f"{len(truth.calls)} calls: {counts}\n")
        return 0

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 130
