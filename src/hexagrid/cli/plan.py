"""``hexagrid plan``: where and when to build AI capacity, solved with HiGHS and optionally checked by simulation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from hexagrid.cli.common import console, err_console, print_json

__all__ = ["bench_plan", "plan"]


def plan(
    scenario: str = typer.Option(
        "france-2030", "--scenario", "-s", help="Built-in planning scenario name or YAML path."
    ),
    out: Path = typer.Option(
        Path("out/plan"), "--out", "-o", help="Directory for plan.csv/json, plots, fleet-<year>.yaml."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON object (status, total_gw, ...) instead of tables."
    ),
    validate: bool = typer.Option(
        False, "--validate", help="Replay each planned year's demand on its fleet (simulator)."
    ),
    validate_days: float = typer.Option(
        2.0, "--validate-days", min=0.25, max=30, help="Measured window per year (days)."
    ),
    validate_policy: str = typer.Option("hexagrid", "--validate-policy", help="Scheduler policy of the replay."),
    validate_jobs: int = typer.Option(
        3_000,
        "--validate-jobs",
        min=100,
        max=1_000_000,
        help="About this many jobs per year; sets the replica's scale.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the synthetic demand used by --validate."),
    no_plots: bool = typer.Option(False, "--no-plots", help="Skip the PNG plots."),
) -> None:
    """Plan sites, MW and accelerators per year under grid, supply, lead-time and budget limits."""
    from hexagrid.planning import load_planning, solve_plan
    from hexagrid.planning.outputs import write_outputs

    scn = load_planning(scenario)
    quiet = as_json
    if not quiet:
        console.print(
            f"[bold]planning[/] {scn.name}: {len(scn.sites)} candidate sites, {len(scn.accelerators)} "
            f"accelerator types, {scn.start_year}-{scn.end_year}"
        )
    with console.status("solving the MILP with HiGHS...", spinner="dots") if not quiet else _null():
        result = solve_plan(scn)
    paths = write_outputs(result, out, plots=not no_plots)
    totals = result.totals()
    validation = None
    if validate and result.feasible:
        from hexagrid.planning.validate import validate_plan

        validation = validate_plan(
            result,
            out,
            days=validate_days,
            seed=seed,
            max_jobs=validate_jobs,
            policy=validate_policy,
            show_progress=not quiet,
        )
        paths["validation.json"] = out / "validation.json"
    if as_json:
        doc = dict(totals)
        doc["out_dir"] = str(out)
        doc["files"] = sorted(p.name for p in paths.values())
        doc["diagnosis"] = result.diagnosis.to_dict() if result.diagnosis else None
        doc["warnings"] = result.warnings
        if validation is not None:
            doc["validation"] = validation
        print_json(doc)
    else:
        _print(result, totals, validation, out)
    if not result.feasible:
        raise typer.Exit(1)


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _print(result: object, totals: dict[str, Any], validation: dict[str, Any] | None, out: Path) -> None:
    from hexagrid.planning.solve import Plan

    assert isinstance(result, Plan)
    if not result.feasible:
        err_console.print(f"[red]{result.diagnosis.message if result.diagnosis else 'infeasible plan'}[/]")
        if result.diagnosis:
            for r in result.diagnosis.remedies:
                err_console.print(f"  relax {r.family}: {r}")
        return
    table = Table(title=f"plan {result.scenario.name} (site x year; sites with capacity)")
    for col in ("site", "year", "cooling", "MW", "new MW", *[f"{t}" for t in result.types], "capex EUR M"):
        table.add_column(col, justify="right" if col not in ("site", "cooling") else "left")
    for row in result.rows():
        if row["mw"] <= 0 and row["capex_eur"] == 0:
            continue
        table.add_row(
            row["site"],
            str(row["year"]),
            row["cooling"],
            f"{row['mw']:,.1f}",
            f"{row['new_mw']:,.1f}",
            *[f"{row[f'gpus_{t}']:,}" for t in result.types],
            f"{row['capex_eur'] / 1e6:,.0f}",
        )
    console.print(table)
    tot = Table(title="totals")
    tot.add_column("figure")
    tot.add_column("value", justify="right")
    tot.add_row("status", f"{totals['status']} (gap {result.mip_gap:.3%}, {result.solve_s:.1f} s)")
    tot.add_row("capacity in the last year", f"{totals['total_gw']:.3f} GW")
    tot.add_row("accelerators", f"{totals['total_accelerators']:,}")
    tot.add_row("capex spent in the horizon", f"EUR {float(str(totals['capex_eur'])) / 1e9:,.2f}bn")
    tot.add_row("emissions", f"{float(str(totals['tco2'])):,.0f} tCO2")
    tot.add_row("heat reused", f"{float(str(totals['heat_reused_mwh'])):,.0f} MWh")
    tot.add_row("sites opened", f"{totals['sites_opened']}")
    console.print(tot)
    if validation is not None:
        vt = Table(title=f"validation: each year's demand on a replica of its planned fleet ({validation['policy']})")
        for col in (
            "year",
            "scale 1:k",
            "replica GPUs",
            "jobs",
            "mean wait h",
            "p99 wait h",
            "utilisation",
            "unfinished",
            "preemptions",
            "power-bound sites",
        ):
            vt.add_column(col, justify="right")
        for y in validation.get("years", []):
            vt.add_row(
                str(y["year"]),
                f"{y['scale']:,.0f}",
                f"{y['replica_gpus']:,}",
                f"{y['jobs']:,}",
                f"{y['mean_wait_h']:.2f}",
                f"{y['p99_wait_h']:.2f}",
                f"{y['utilisation']:.1%}",
                f"{y['unfinished']:,}",
                f"{y['preemptions']:,}",
                str(len(y["power_bound_sites"])),
            )
        console.print(vt)
    for w in result.warnings:
        console.print(f"[yellow]warning:[/] {w}")
    console.print(f"outputs in {out}")


def bench_plan(
    scenario: str = typer.Option("france-2030", "--scenario", "-s", help="Planning scenario to solve."),
    repeat: int = typer.Option(3, "--repeat", min=1, max=20, help="Solves to time."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """Build and solve a planning MILP several times: model size, build and solve seconds, gap."""
    import platform
    import statistics
    import time

    from hexagrid.planning import load_planning, solve_plan
    from hexagrid.planning.model import build_model

    scn = load_planning(scenario)
    build_s: list[float] = []
    solve_s: list[float] = []
    total_s: list[float] = []
    last = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        model, _ix = build_model(scn)
        build_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        last = solve_plan(scn, diagnose_infeasible=False)
        total_s.append(time.perf_counter() - t0)
        solve_s.append(last.solve_s)
    assert last is not None
    doc = {
        "scenario": scn.name,
        "sites": len(scn.sites),
        "years": len(scn.years),
        "accelerator_types": len(scn.accelerators),
        "columns": model.num_cols,
        "rows": model.num_rows,
        "integer_columns": model.num_integer,
        "status": last.status,
        "mip_gap": last.mip_gap,
        "objective_eur": last.objective_eur,
        "build_s_median": statistics.median(build_s),
        "solve_s_median": statistics.median(solve_s),
        "solve_s_max": max(solve_s),
        "plan_s_median": statistics.median(total_s),
        "repeat": repeat,
        "python": platform.python_version(),
    }
    if as_json:
        print_json(doc)
        return
    table = Table(title=f"hexagrid bench plan ({scn.name}, {repeat} solves)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("model", f"{doc['columns']:,} columns ({doc['integer_columns']:,} integer), {doc['rows']:,} rows")
    table.add_row("status / gap", f"{last.status} / {last.mip_gap:.3%}")
    table.add_row("build s (median)", f"{doc['build_s_median']:.2f}")
    table.add_row("HiGHS solve s (median / max)", f"{doc['solve_s_median']:.2f} / {doc['solve_s_max']:.2f}")
    table.add_row("whole plan s (median)", f"{doc['plan_s_median']:.2f}")
    table.add_row("objective", f"EUR {last.objective_eur / 1e9:,.2f}bn")
    console.print(table)
