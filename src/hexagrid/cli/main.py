"""Entry point of the ``hexagrid`` command. Each command group lives in its own module."""

from __future__ import annotations

import sys

import typer

from hexagrid import __version__, _native
from hexagrid.errors import HexagridError, ValidationFailed

app = typer.Typer(
    name="hexagrid",
    help="Run AI compute as a sovereign, low-carbon utility: schedule, simulate, plan.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hexagrid {__version__} ({_native.status().describe()})")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Hexagrid: where and when each AI workload runs, under residency, power and carbon."""


def _register() -> None:
    """Attach every command group. Kept in one place so the CLI's shape is visible at a glance."""
    from hexagrid.cli import agent, bench, carbon, jobs, plan, scenario, server, simulate, trace

    # the main jobs
    app.command(name="simulate")(simulate.simulate)
    app.command(name="plan")(plan.plan)
    # fleets, data and workloads
    app.add_typer(scenario.app, name="scenario")
    app.add_typer(carbon.app, name="carbon")
    app.add_typer(trace.app, name="trace")
    # the live control plane: server, up, agent, and the client commands
    server.register(app)
    app.command(name="agent")(agent.agent)
    jobs.register(app)
    app.add_typer(bench.app, name="bench")


_register()


def main() -> None:
    """Run the CLI; a HexagridError becomes one line on stderr and exit status 2 (never a traceback).

    Usage errors (unknown command or option, bad option value) are click's, also exit status 2.
    """
    try:
        app()
    except ValidationFailed as exc:
        for line in exc.lines():
            sys.stderr.write(f"hexagrid: error: {line}\n")
        sys.exit(2)
    except HexagridError as exc:
        sys.stderr.write(f"hexagrid: error: {exc}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
