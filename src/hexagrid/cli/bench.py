"""``hexagrid bench ...``: benchmarks of the hot paths. Each prints figures; ``--json`` one object."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Measure the hot paths (scheduler, simulator, API). Figures go to docs/benchmarks.md.", no_args_is_help=True
)

from hexagrid.cli.carbon import bench_energy  # noqa: E402

app.command("energy")(bench_energy)

from hexagrid.cli.trace import bench_workloads  # noqa: E402

app.command("workloads")(bench_workloads)

from hexagrid.cli.server import bench_api  # noqa: E402

app.command("api")(bench_api)

from hexagrid.cli.simulate import bench_simulate  # noqa: E402

app.command("simulate")(bench_simulate)

from hexagrid.cli.plan import bench_plan  # noqa: E402

app.command("plan")(bench_plan)


@app.command("scheduler")
def bench_scheduler(
    gpus: int = typer.Option(500_000, "--gpus", help="GPUs in the synthetic fleet."),
    pending: int = typer.Option(100_000, "--pending", help="Jobs in the queue."),
    seed: int = typer.Option(0, "--seed", help="Seed of the fleet, running jobs and queue."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """One full scheduler pass (plain and EASY backfill) over a synthetic national fleet and queue."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from hexagrid import _native
    from hexagrid.benchmarks.scheduler import run_scheduler_bench
    from hexagrid.cli.common import console, err_console, print_json

    if as_json:
        result = run_scheduler_bench(gpus, pending, seed)
        print_json(result.as_json())
        return
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err_console, transient=True
    ) as bar:
        task = bar.add_task("building", total=None)
        result = run_scheduler_bench(
            gpus, pending, seed, progress=lambda msg: bar.update(task, description=f"building {msg}")
        )
    table = Table(title=f"hexagrid bench scheduler (seed {seed})")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        ("fleet", f"{result.gpus:,} GPUs, {result.sites} sites, {result.pools} pools"),
        ("running / free GPUs", f"{result.running:,} jobs / {result.free_gpus:,}"),
        ("pending / requested GPUs", f"{result.pending:,} / {result.requested_gpus:,}"),
        ("plain pass: decisions", f"{result.decisions:,}"),
        ("plain pass: placed", f"{result.placed:,}"),
        ("plain pass: wall s", f"{result.wall_s:.2f}"),
        ("plain pass: decisions/s", f"{result.decisions_per_s:,.0f}"),
        ("plain pass: CPU s (decisions per CPU s)", f"{result.cpu_s:.2f} ({result.decisions_per_cpu_s:,.0f})"),
        ("backfill pass: placed", f"{result.backfill_placed:,}"),
        ("backfill pass: wall s (CPU s)", f"{result.backfill_wall_s:.2f} ({result.backfill_cpu_s:.2f})"),
        ("peak RSS MB", f"{result.peak_rss_mb:,.0f}"),
        ("build", _native.status().describe()),
    ]
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)
    reasons = Table(title="backfill pass: jobs not started, by reason")
    reasons.add_column("reason")
    reasons.add_column("jobs", justify="right")
    for k, n in result.backfill_reasons.items():
        reasons.add_row(k, f"{n:,}")
    console.print(reasons)
