"""Fixtures of the server tests; the harness itself lives in server_harness.py (a unique module name)."""

from server_harness import harness

__all__ = ["harness"]
