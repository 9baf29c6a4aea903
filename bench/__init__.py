"""Measured speed and cost: `python -m bench.run [--quick]` writes bench/results.json and BENCHMARKS.md."""
