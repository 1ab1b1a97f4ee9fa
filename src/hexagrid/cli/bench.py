"""``hexagrid bench ...``: benchmarks of the hot paths. Each prints figures; ``--json`` one object."""

from __future__ import annotations

import typer

app = typer.Typer(help="Measure the hot paths (scheduler, simulator, API). Figures go to docs/benchmarks.md.",
                  no_args_is_help=True)

from hexagrid.cli.carbon import bench_energy  # noqa: E402

app.command("energy")(bench_energy)

from hexagrid.cli.trace import bench_workloads  # noqa: E402

app.command("workloads")(bench_workloads)

from hexagrid.cli.server import bench_api  # noqa: E402

app.command("api")(bench_api)

from hexagrid.cli.simulate import bench_simulate  # noqa: E402

app.command("simulate")(bench_simulate)
