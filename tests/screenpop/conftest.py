"""Fixtures of the screen-pop tests: the console tests' private Mosquitto (one we may
stop and restart)."""

from __future__ import annotations

from tests.console.conftest import private_broker

__all__ = ["private_broker"]
