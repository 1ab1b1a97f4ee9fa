"""What every command shares: the consoles, JSON output and the one-line error contract."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console

__all__ = ["console", "err_console", "fail", "print_json"]

console = Console()
err_console = Console(stderr=True)


def print_json(obj: Any) -> None:
    """Machine-readable output on stdout: sorted keys, no colour, one document."""
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``hexagrid: error: <message>`` on stderr and exit (2 for bad input)."""
    for line in message.splitlines() or [message]:
        sys.stderr.write(f"hexagrid: error: {line}\n")
    raise typer.Exit(code)
