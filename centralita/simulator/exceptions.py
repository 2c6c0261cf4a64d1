"""Errors of the simulator package.

::

    SimulatorError                  root: catch this to catch them all
    ├── SimulatorConfigError        a configuration that cannot be simulated
    └── AmiServerError              the TCP AMI server could not start or serve
"""

from __future__ import annotations


class SimulatorError(Exception):
    """Root of every error the simulator raises."""


class SimulatorConfigError(SimulatorError):
    """The configuration is inconsistent (unknown queue, empty agent list...)."""


class AmiServerError(SimulatorError):
    """The AMI server could not bind or serve."""
