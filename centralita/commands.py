"""Core sub-commands: run, demo, ingest-file, calls, rebuild."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the core sub-commands."""
    del subparsers
