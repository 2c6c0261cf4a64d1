"""A minimal valid routing file that tests extend with the piece under test."""

from __future__ import annotations

BASE = """
version = 1
segments = ["corporativo"]

[[holiday]]
date = 2026-08-06
name = "Independencia"

[[announcement]]
name = "cerrado"
sound = "custom/cerrado"
text = "Cerrado."

[[queue]]
name = "q101"

[[service]]
key = "101"
name = "Reclamos"
numbers = ["101"]
queue = "q101"
script = "101"
"""

SECOND = """
[[queue]]
name = "q104"

[[service]]
key = "104"
name = "Números"
numbers = ["104"]
queue = "q104"
script = "104"
"""
