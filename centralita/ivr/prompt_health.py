"""Prompts the PBX could not play: a count per sound file, logged once per file name.

A missing recording (``File cc-saludo-101 does not exist`` in Asterisk's log) makes
STREAM FILE and GET DATA answer ``result=-1``; the session plays on without it (see
``ivr.agi``) and records it here. The daemon's ``/metrics`` exposes the counts as
``centralita_ivr_prompt_missing_total{file="..."}``.
"""

from __future__ import annotations

from collections import Counter

import structlog

log = structlog.get_logger(__name__)

_HINT = "centralita ivr prompts synthesize --out DIR, then copy DIR into the PBX's sounds/es"


class MissingPrompts:
    """How many times each prompt could not be played; the first time is logged."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    def record(self, prompt: str) -> None:
        """Count one failed play of `prompt`; a warning the first time this name fails."""
        first = prompt not in self._counts
        self._counts[prompt] += 1
        if first:
            log.warning("ivr_prompt_missing", file=prompt, hint=_HINT)

    def counts(self) -> dict[str, int]:
        """Failed plays per file name, since start."""
        return dict(self._counts)


MISSING_PROMPTS = MissingPrompts()
"""The process's registry: sessions record into it unless given another, /metrics reads it."""
