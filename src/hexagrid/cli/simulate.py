"""``hexagrid simulate``: replay a GPU trace over a scenario's fleet under several policies, side by side."""

from __future__ import annotations

import os
import time
import webbrowser
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from hexagrid import _native
from hexagrid.cli.common import console, err_console, fail, print_json

__all__ = ["simulate"]

_FORECASTS = ("perfect", "persistence", "noisy")


def simulate(
    scenario: str = typer.Option("france-2026", "--scenario", "-s", help="Built-in scenario name or a YAML path."),
    trace: str = typer.Option("itp", "--trace", "-t", help="Built-in trace (itp, philly) or a trace file/folder."),
    policy: list[str] = typer.Option(
        None, "--policy", "-p", help="Scheduler policy; repeat for several (default: fifo, backfill, hexagrid)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for attribute mapping, forecasts and failures."),
    out: Path = typer.Option(Path("out/simulate"), "--out", "-o", help="Output folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
    max_jobs: int | None = typer.Option(None, "--max-jobs", min=1, help="Replay only the first N jobs."),
    time_compression: float = typer.Option(
        1.0, "--time-compression", help="Divide submit times by this factor (more load per hour)."
    ),
    carbon: str = typer.Option("builtin:2022", "--carbon", help="Carbon data: builtin:2022 or a CSV path."),
    forecast: str = typer.Option(
        "perfect", "--forecast", help="Carbon forecast the scheduler sees: perfect, persistence or noisy."
    ),
    tick_s: float = typer.Option(900.0, "--tick-s", help="Periodic scheduling pass while jobs wait (s)."),
    pass_interval_s: float = typer.Option(
        60.0, "--pass-interval-s", help="At most one scheduling pass per this many seconds (0 = every change)."
    ),
    restart_cost_s: float = typer.Option(300.0, "--restart-cost-s", help="Reload time after a stop (s)."),
    failure_rate: float = typer.Option(0.0, "--failure-rate", help="Failures per GPU-hour (0 = off)."),
    workers: int = typer.Option(
        0, "--workers", min=0, max=64, help="Policies run in parallel processes (0 = one per policy, up to the CPUs)."
    ),
    no_report: bool = typer.Option(False, "--no-report", help="Skip report.html."),
    open_report: bool = typer.Option(False, "--open", help="Open report.html in a browser at the end."),
) -> None:
    """Replay a trace over a fleet under several policies; write summary.json, Parquet tables and report.html."""
    from hexagrid.energy.carbon import load_carbon
    from hexagrid.scenarios import load_scenario
    from hexagrid.simulation.driver import SimConfig
    from hexagrid.simulation.metrics import same_outcome_note
    from hexagrid.simulation.run import DEFAULT_POLICIES, policy_names, simulate_policies
    from hexagrid.workloads import MappingRule, load_trace, scale_trace

    policies = list(policy) if policy else list(DEFAULT_POLICIES)
    known = policy_names()
    for p in policies:
        if p not in known:
            fail(f"--policy: unknown policy {p!r}; policies: {', '.join(known)}")
    if forecast not in _FORECASTS:
        fail(f"--forecast: unknown forecast {forecast!r}; forecasts: {', '.join(_FORECASTS)}")
    if not 0 < time_compression <= 1e6:
        fail(f"--time-compression: must be > 0 and at most 1e6, got {time_compression}")
    if not 1 <= tick_s <= 86400:
        fail(f"--tick-s: must be within 1..86400 seconds, got {tick_s}")
    if not 0 <= pass_interval_s <= 86400:
        fail(f"--pass-interval-s: must be within 0..86400 seconds, got {pass_interval_s}")
    if not 0 <= restart_cost_s <= 86400:
        fail(f"--restart-cost-s: must be within 0..86400 seconds, got {restart_cost_s}")
    if not 0 <= failure_rate <= 1:
        fail(f"--failure-rate: must be within 0..1 failures per GPU-hour, got {failure_rate}")

    t0 = time.perf_counter()
    scen = load_scenario(scenario)
    table = load_trace(trace)
    if max_jobs is not None:
        table = table.head(max_jobs)
    if time_compression != 1.0:
        table = scale_trace(table, time_compression=time_compression, seed=seed)
    table = MappingRule().apply_scenario(table, scen, seed)
    carbon_data = load_carbon(carbon)
    cfg = SimConfig(
        tick_s=tick_s,
        restart_cost_s=restart_cost_s,
        failure_rate_per_gpu_h=failure_rate,
        seed=seed,
        min_pass_interval_s=pass_interval_s,
    )

    progress = Progress(
        TextColumn("[bold]{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("jobs"),
        TimeElapsedColumn(),
        console=err_console,
        transient=as_json,
        disable=as_json,
    )
    tasks = {p: progress.add_task(p, total=len(table)) for p in policies}

    def on_progress(name: str, done: int, total: int) -> None:
        progress.update(tasks[name], completed=done)

    with progress:
        result = simulate_policies(
            scen,
            table,
            carbon=carbon_data,
            policies=policies,
            seed=seed,
            forecast=forecast,
            config=cfg,
            out_dir=out,
            report=not no_report,
            trace_label=trace,
            progress=on_progress,
            workers=workers or min(len(policies), os.cpu_count() or 1),
        )
    wall_s = time.perf_counter() - t0
    summary = result.summary
    if as_json:
        print_json(summary)
    else:
        _print_table(summary)
        same = same_outcome_note(summary)
        if same is not None:
            console.print(same, style="dim")
        console.print(f"wrote {out}/summary.json, jobs-<policy>.parquet, sites-<policy>.parquet in {wall_s:.1f} s")
        if result.report_path is not None:
            console.print(f"report: {result.report_path.resolve()}")
    bad = {p: s["constraint_violations"] for p, s in summary["policies"].items() if s["constraint_violations"]}
    if bad:
        err_console.print(f"[red]constraint violations: {bad}[/red]")
    if open_report and result.report_path is not None:
        webbrowser.open(result.report_path.resolve().as_uri())
    if bad:
        raise typer.Exit(1)


def _print_table(summary: dict[str, object]) -> None:
    pols: dict[str, dict[str, float]] = summary["policies"]  # type: ignore[assignment]
    t = Table(title=f"{summary['scenario']} × {summary['trace']}: {summary['jobs']:,} jobs")
    t.add_column("metric")
    for p in pols:
        t.add_column(p, justify="right")
    rows = [
        ("completed", "completed", "{:,}"),
        ("constraint_violations", "constraint violations", "{:,}"),
        ("utilisation", "utilisation", "{:.1%}"),
        ("mean_wait_s", "mean wait (s)", "{:,.0f}"),
        ("p99_wait_s", "p99 wait (s)", "{:,.0f}"),
        ("mean_completion_s", "mean completion (s)", "{:,.0f}"),
        ("energy_mwh", "energy (MWh)", "{:,.1f}"),
        ("tco2", "carbon (tCO2)", "{:,.2f}"),
        ("cost_eur", "cost (EUR)", "{:,.0f}"),
        ("heat_reused_mwh", "heat reused (MWh)", "{:,.1f}"),
        ("deadline_misses", "deadline misses", "{:,}"),
        ("preemptions", "preemptions", "{:,}"),
    ]
    for key, label, fmt in rows:
        t.add_row(label, *(fmt.format(pols[p][key]) for p in pols))
    console.print(t)


def bench_simulate(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    national_jobs: int = typer.Option(
        1_000_000, "--national-jobs", min=1, max=100_000_000, help="Synthetic jobs over france-2028."
    ),
    policy: str = typer.Option("hexagrid", "--policy", help="Scheduler policy."),
    seed: int = typer.Option(0, "--seed"),
    only: str = typer.Option("both", "--only", help="Run 'itp', 'national' or 'both'."),
    pass_interval_s: float = typer.Option(
        60.0, "--pass-interval-s", min=0, max=86400, help="At most one scheduling pass per this many simulated seconds."
    ),
) -> None:
    """(a) the whole ITP trace on a fleet sized to it; (b) 1M synthetic jobs over france-2028 (>1M GPUs)."""
    from hexagrid.benchmarks.simulate import bench_simulate as run_bench
    from hexagrid.simulation.run import policy_names

    if policy not in policy_names():
        fail(f"--policy: unknown policy {policy!r}; policies: {', '.join(policy_names())}")
    if only not in ("itp", "national", "both"):
        fail(f"--only: must be itp, national or both, got {only!r}")
    progress = Progress(
        TextColumn("[bold]{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("jobs"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=as_json,
    )
    tasks: dict[str, TaskID] = {}

    def on_progress(run: str, done: int, total: int) -> None:
        if run not in tasks:
            tasks[run] = progress.add_task(run, total=total)
        progress.update(tasks[run], completed=done)

    with progress:
        r = run_bench(
            national_jobs=national_jobs,
            policy=policy,
            seed=seed,
            itp=only in ("itp", "both"),
            national=only in ("national", "both"),
            pass_interval_s=pass_interval_s,
            progress=on_progress,
        )
    if as_json:
        print_json(r)
        return
    runs = [(k, lbl) for k, lbl in (("itp", "ITP, sized fleet"), ("national", "national")) if f"{k}_wall_s" in r]
    t = Table(title=f"hexagrid bench simulate (policy {policy})")
    t.add_column("figure")
    for _, lbl in runs:
        t.add_column(lbl, justify="right")
    for name, field, fmt in (
        ("jobs", "jobs", "{:,}"),
        ("completed", "completed", "{:,}"),
        ("GPUs", "gpus", "{:,}"),
        ("wall s", "wall_s", "{:,.2f}"),
        ("events / s", "events_per_s", "{:,.0f}"),
        ("jobs / s", "jobs_per_s", "{:,.0f}"),
        ("scheduling passes", "passes", "{:,}"),
        ("utilisation", "utilisation", "{:.1%}"),
        ("constraint violations", "violations", "{:,}"),
    ):
        t.add_row(name, *(fmt.format(r[f"{k}_{field}"]) for k, _ in runs))
    console.print(t)
    console.print(f"peak RSS {r['peak_rss_mb']:,.0f} MB")
    console.print(f"build: {_native.status().describe()}")
