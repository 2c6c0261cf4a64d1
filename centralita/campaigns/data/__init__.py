"""Shipped data of the campaigns package (the example settings file)."""
