"""Packaged agent scripts, one TOML file per service."""
