"""ami_listener package."""
