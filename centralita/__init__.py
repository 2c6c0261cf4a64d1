"""centralita: composition root (settings, CLI, logging, daemon supervision)."""

__version__ = "0.1.0"
