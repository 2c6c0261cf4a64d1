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
    sim = subparsers.add_parser("simulator", help="una central simulada que habla AMI")
    sub = sim.add_subparsers(dest="simulator_command", metavar="ACCIÓN", required=True)
    run = sub.add_parser(
        "run",
        help="servir por AMI una corrida con semilla (muestra el puerto) hasta que terminen"
        " las llamadas",
        description=f"La clave AMI viene de ${SECRET_ENV} (vacía si no está definida); "
        "el usuario es «centralita» salvo que se indique --username.",
    )
    run.add_argument("--calls", type=_calls, required=True, help="número de llamadas entrantes")
    run.add_argument("--seed", type=int, default=1, help="semilla (misma semilla, misma corrida)")
    run.add_argument("--dialect", choices=("11", "12"), default="12", help="dialecto de Asterisk")
    run.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="segundos simulados por segundo real; 0 = lo más rápido posible (por omisión 1)",
    )
    run.add_argument("--host", default="127.0.0.1", help="dirección de escucha")
    run.add_argument("--port", type=int, default=0, help="puerto AMI (0 = cualquiera libre)")
    run.add_argument("--username", default="centralita", help="usuario AMI")
    run.add_argument("--agi", metavar="HOST:PORT", help="abrir aquí una sesión FastAGI por llamada")
    run.add_argument("--load", type=float, default=1.0, help="multiplicar cada tasa de llegada")
    run.add_argument(
        "--no-noise", action="store_true", help="solo los eventos que importan a las colas"
    )
    run.add_argument(
        "--wait-client", action="store_true", help="empezar las llamadas cuando entre un cliente"
    )
    run.add_argument(
        "--queue-log", type=Path, help="escribir aquí el queue_log, línea a línea según ocurre"
    )
    run.add_argument("--truth", type=Path, help="escribir aquí al final la verdad (JSON)")
    run.set_defaults(func=_run)


def _calls(text: str) -> int:
    """An argparse ``type=``: a number of calls, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"«{text}» no vale: use un número entero, 0 o más")
    return value


def _run(args: argparse.Namespace) -> int:
    from centralita.simulator.config import lab_config
    from centralita.simulator.runner import Simulator
    from centralita.simulator.truth import write_truth

    if args.calls <= 0:
        sys.stderr.write("--calls: use un número entero, 1 o más\n")
        return 2
    agi: tuple[str, int] | None = None
    if args.agi:
        host, _, port = args.agi.rpartition(":")
        if not host or not port.isdigit():
            sys.stderr.write(f"--agi: «{args.agi}» no vale: use HOST:PUERTO\n")
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
            queue_log_path=args.queue_log,
        )
        if args.queue_log:
            args.queue_log.unlink(missing_ok=True)  # a fresh file, appended to live
        async with sim:
            sys.stdout.write(f"puerto AMI {sim.port}\n")
            sys.stdout.flush()
            if args.wait_client:
                await sim.wait_for_client(timeout_s=3600.0)
            truth = await sim.run()
            if args.truth:
                write_truth(truth, args.truth)
            counts = ", ".join(f"{k} {v}" for k, v in sorted(truth.outcome_counts().items()))
            sys.stdout.write(f"{len(truth.calls)} llamadas: {counts}\n")
        return 0

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 130
