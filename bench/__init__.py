"""Benchmarks: run each as ``python -m bench.<name>`` (figures in RESULTS.md)."""
