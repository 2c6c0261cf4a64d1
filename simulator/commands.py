"""Command-line sub-commands of this package (registered by centralita.cli)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add this package's sub-commands (none yet)."""
    del subparsers
