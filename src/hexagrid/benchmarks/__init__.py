"""Benchmark workloads behind ``hexagrid bench``: they build inputs, time the hot path, report figures."""
