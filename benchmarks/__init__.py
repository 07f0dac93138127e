"""Benchmarks: each runs as `python -m benchmarks.NAME` and writes benchmarks/results/NAME.json."""
