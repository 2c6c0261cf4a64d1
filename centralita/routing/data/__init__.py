"""Packaged data of routing: the shipped example routing.toml."""
