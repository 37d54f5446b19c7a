"""Benchmarks: scripts that print figures (benchmarks/RESULTS.md keeps them with the machine)."""
