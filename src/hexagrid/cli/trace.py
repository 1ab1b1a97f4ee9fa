"""``hexagrid trace ...``: look at a workload before replaying it (counts, histogram, span, mapping)."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from hexagrid.cli.common import console, print_json

app = typer.Typer(help="GPU job traces and synthetic demand: counts, mapping, generation.", no_args_is_help=True)

__all__ = ["app"]


def _load(
    source: str,
    reference_accelerator: str,
    processors_per_gpu: int | None = None,
    columns: list[str] | None = None,
    time_format: str | None = None,
    duration_unit: str | None = None,
) -> Any:
    """Load ``source``; ``columns`` (KEY=COLUMN) reads it as a generic CSV through that mapping."""
    from hexagrid.errors import InputError
    from hexagrid.workloads import load_trace

    options: dict[str, Any] = {}
    if processors_per_gpu is not None:
        options["processors_per_gpu"] = processors_per_gpu
    if columns:
        mapping: dict[str, str] = {}
        for item in columns:
            key, sep, col = item.partition("=")
            if not sep or not key.strip() or not col.strip():
                raise InputError(f"--column: must be KEY=COLUMN (e.g. submit=start_time), got {item!r}")
            mapping[key.strip()] = col.strip()
        options["mapping"] = mapping
    if time_format is not None:
        options["time_format"] = time_format
    if duration_unit is not None:
        options["duration_unit"] = duration_unit
    if ("time_format" in options or "duration_unit" in options) and "mapping" not in options:
        raise InputError("--time-format and --duration-unit apply to a generic CSV read with --column KEY=COLUMN")
    return load_trace(source, reference_accelerator=reference_accelerator, **options)


_COLUMN_HELP = (
    "Generic CSV: map hexagrid's names to the file's columns, KEY=COLUMN, repeatable; keys submit, gpus, "
    "duration or end, id, cluster."
)


def _fmt_span(seconds: float) -> str:
    return f"{seconds / 86400:,.1f} days ({seconds:,.0f} s)"


def _print_info(info: dict[str, Any]) -> None:
    t = Table(title=f"{info['name']}: {info['jobs']:,} jobs", show_header=False)
    t.add_column("what")
    t.add_column("value", justify="right")
    t.add_row("jobs", f"{info['jobs']:,}")
    t.add_row(f"GPU-hours (on {info['reference_accelerator']}, as traced)", f"{info['gpu_hours']:,.1f}")
    t.add_row("GPU-hours on the reference A100 (estimate)", f"{info['reference_gpu_hours']:,.1f}")
    t.add_row("time span", _fmt_span(info["span_s"]))
    if "first_submit_utc" in info:
        t.add_row("submissions (UTC)", f"{info['first_submit_utc']} .. {info['last_submit_utc']}")
    if "median_duration_s" in info:
        t.add_row("median duration (s, as traced)", f"{info['median_duration_s']:,.0f}")
    if info["clusters"]:
        t.add_row("clusters", str(info["clusters"]))
    console.print(t)
    hist: dict[int, int] = info["gpu_histogram"]
    if hist:
        h = Table(title="GPUs per job")
        h.add_column("GPUs", justify="right")
        h.add_column("jobs", justify="right")
        h.add_column("share", justify="right")
        h.add_column("")
        top = max(hist.values())
        for g, c in hist.items():
            h.add_row(str(g), f"{c:,}", f"{c / info['jobs']:.2%}", "█" * max(1, round(30 * c / top)))
        console.print(h)
    for key in ("kind", "tenant_class", "tenant", "residency", "min_tier", "objective"):
        if key in info:
            k = Table(title=key.replace("_", " "))
            k.add_column(key)
            k.add_column("jobs", justify="right")
            k.add_column("share", justify="right")
            for label, c in info[key].items():
                k.add_row(label, f"{c:,}", f"{c / info['jobs']:.1%}")
            console.print(k)
    if "preemptible" in info:
        console.print(
            f"preemptible: {info['preemptible']:,} ({info['preemptible'] / max(1, info['jobs']):.1%}); "
            f"with a deadline: {info['with_deadline']:,} ({info['with_deadline'] / max(1, info['jobs']):.1%})"
        )
    for note in info.get("notes", []):
        console.print(f"[dim]note: {note}[/dim]")


def _json_ready(info: dict[str, Any]) -> dict[str, Any]:
    out = dict(info)
    out["gpu_histogram"] = [{"gpus": g, "jobs": c} for g, c in info["gpu_histogram"].items()]
    return out


@app.command("info")
def info(
    source: str = typer.Argument(..., help="Built-in trace (itp, philly) or a trace file/folder (Philly, ITP, SWF)."),
    reference_accelerator: str = typer.Option(
        "V100", "--reference-accelerator", help="The accelerator the trace's durations were measured on."
    ),
    processors_per_gpu: int | None = typer.Option(None, "--processors-per-gpu", help="SWF only: processors per GPU."),
    column: list[str] = typer.Option(None, "--column", "-c", help=_COLUMN_HELP),
    time_format: str | None = typer.Option(
        None, "--time-format", help="Generic CSV: seconds (default), iso, or a strptime pattern (UTC)."
    ),
    duration_unit: str | None = typer.Option(None, "--duration-unit", help="Generic CSV: s (default), min or h."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Jobs, GPU-hours, GPUs-per-job histogram and time span of a trace."""
    table = _load(source, reference_accelerator, processors_per_gpu, column, time_format, duration_unit)
    summary = table.summary()
    if as_json:
        print_json(_json_ready(summary))
    else:
        _print_info(summary)


@app.command("map")
def map_(
    source: str = typer.Argument(..., help="Built-in trace (itp, philly) or a trace file/folder."),
    scenario: str = typer.Option("france-2026", "--scenario", "-s", help="Built-in scenario or a YAML path."),
    seed: int = typer.Option(0, "--seed", help="Seed of the mapping rule."),
    reference_accelerator: str = typer.Option("V100", "--reference-accelerator"),
    processors_per_gpu: int | None = typer.Option(None, "--processors-per-gpu", help="SWF only: processors per GPU."),
    column: list[str] = typer.Option(None, "--column", "-c", help=_COLUMN_HELP),
    time_format: str | None = typer.Option(
        None, "--time-format", help="Generic CSV: seconds, iso or a strptime pattern."
    ),
    duration_unit: str | None = typer.Option(None, "--duration-unit", help="Generic CSV: s, min or h."),
    shares: Path | None = typer.Option(
        None, "--shares", help="YAML file of mapping shares (AttributeShares fields; the rest keep defaults)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """What the seeded mapping rule gives a trace's jobs over a scenario's tenants (counts per attribute)."""
    from hexagrid.scenarios import load_scenario
    from hexagrid.workloads import MappingRule, load_shares

    rule = MappingRule() if shares is None else MappingRule(shares=load_shares(shares))
    scen = load_scenario(scenario)
    loaded = _load(source, reference_accelerator, processors_per_gpu, column, time_format, duration_unit)
    table = rule.apply_scenario(loaded, scen, seed)
    summary = table.summary()
    if as_json:
        print_json(_json_ready(summary))
    else:
        _print_info(summary)
        console.print(table.mapping_line())


@app.command("synth")
def synth(
    jobs: int = typer.Option(100_000, "--jobs", "-n", min=1, max=100_000_000, help="Number of jobs."),
    seed: int = typer.Option(0, "--seed", help="Seed of the generator."),
    start: str = typer.Option("2026-01-01", "--start", help="Calendar start (UTC date, YYYY-MM-DD)."),
    horizon_days: float | None = typer.Option(
        None, "--horizon-days", help="Submissions spread over this many days (default 30, or from --load)."
    ),
    load: float | None = typer.Option(
        None, "--load", help="Size the horizon so the jobs offer this share of --scenario's GPUs (e.g. 0.7)."
    ),
    scenario: str = typer.Option("france-2026", "--scenario", "-s", help="The fleet --load refers to."),
    mix_file: Path | None = typer.Option(
        None, "--mix", help="YAML file of SyntheticMix fields (kinds, sizes, durations, rhythm, growth)."
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="Write the jobs: .parquet (all columns) or CSV (job_id,submit_s,duration_s,gpus,kind); "
        "durations on the A100 reference.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Generate synthetic demand (diurnal and weekly arrivals, growth, per-kind sizes and durations).

    Read a written CSV back with: hexagrid trace info FILE --reference-accelerator A100
    -c id=job_id -c submit=submit_s -c duration=duration_s -c gpus=gpus -c kind=kind
    """
    from hexagrid.errors import InputError
    from hexagrid.workloads import KINDS, SyntheticMix, generate_synthetic, load_mix

    try:
        start_s = datetime.combine(date.fromisoformat(start), datetime.min.time(), tzinfo=UTC).timestamp()
    except ValueError:
        raise InputError(f"--start: must be a date YYYY-MM-DD, got {start!r}") from None
    mix = SyntheticMix() if mix_file is None else load_mix(mix_file)
    fleet_gpus: int | None = None
    if load is not None:
        if horizon_days is not None:
            raise InputError("--load and --horizon-days: give one (--load sizes the horizon to the fleet)")
        from hexagrid.scenarios import load_scenario

        scen = load_scenario(scenario)
        fleet_gpus = sum(pool.gpus for site in scen.sites for pool in site.pools)
        horizon_s = mix.horizon_for_load(jobs, fleet_gpus, load)
    else:
        horizon_s = (30.0 if horizon_days is None else horizon_days) * 86400.0
    table = generate_synthetic(jobs, seed=seed, start_s=start_s, horizon_s=horizon_s, mix=mix)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix == ".parquet":
            import pyarrow.parquet as pq

            pq.write_table(table.to_arrow(), out)
        else:
            with out.open("w", newline="") as fh:
                w = csv.writer(fh, lineterminator="\n")
                w.writerow(["job_id", "submit_s", "duration_s", "gpus", "kind"])
                kinds = [k.value for k in KINDS]
                for row in zip(
                    table.job_id.tolist(),
                    table.submit_s.round(3).tolist(),
                    table.duration_s.tolist(),
                    table.gpus.tolist(),
                    (kinds[k] for k in table.kind.tolist()),
                    strict=True,
                ):
                    w.writerow(row)
    summary = table.summary()
    summary["horizon_s"] = horizon_s
    if fleet_gpus is not None:
        summary["fleet_gpus"] = fleet_gpus
        summary["offered_load"] = round(table.offered_load(fleet_gpus), 4)
    if as_json:
        print_json(_json_ready(summary))
    else:
        _print_info(summary)
        if fleet_gpus is not None:
            console.print(
                f"horizon {horizon_s / 86400:,.2f} days: offered load {summary['offered_load']:.1%} "
                f"of {scenario}'s {fleet_gpus:,} GPUs (A100-equivalent estimate)"
            )
        if out is not None:
            console.print(f"wrote {out}")


def bench_workloads(
    jobs: int = typer.Option(1_000_000, "--jobs", min=1, help="Synthetic jobs to generate, map and convert."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of generation and mapping."),
    scenario: str = typer.Option("france-2028", "--scenario", "-s", help="Whose tenants the mapping uses."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object instead of a table."),
) -> None:
    """Time the workload layer: trace loading, mapping, JobSpecs, synthetic generation, scaling."""
    from rich.progress import Progress

    from hexagrid.workloads.benchmark import run_workloads_bench

    with Progress(transient=True, console=console, disable=as_json) as progress:
        task = progress.add_task("workloads", total=8)

        def step(msg: str) -> None:
            progress.update(task, description=msg, advance=1)

        fig = run_workloads_bench(jobs=jobs, seed=seed, scenario=scenario, step=step)
    if as_json:
        print_json(fig)
        return
    t = Table(title=f"hexagrid bench workloads (Python {fig['python']}, {fig['machine']})")
    t.add_column("what")
    t.add_column("wall", justify="right")
    t.add_column("CPU", justify="right")
    n = f"{fig['synthetic_jobs']:,}"
    rows = [
        (f"load itp ({fig['itp_jobs']:,} jobs, packaged)", "load_itp_s"),
        (f"load philly ({fig['philly_jobs']:,} jobs, packaged)", "load_philly_s"),
        (f"map itp over {fig['scenario']} tenants", "map_itp_s"),
        (f"itp -> JobSpecs ({fig['jobspecs_itp_us_per_job']:.1f} µs/job wall)", "jobspecs_itp_s"),
        (f"generate {n} synthetic jobs", "generate_s"),
        (f"map {n} synthetic jobs", "map_synthetic_s"),
        (f"{n} synthetic -> JobSpecs ({fig['jobspecs_synthetic_us_per_job']:.1f} µs/job wall)", "jobspecs_synthetic_s"),
        (f"scale itp x10 time, 15 copies ({fig['scaled_jobs']:,} jobs)", "scale_itp_s"),
    ]
    for label, key in rows:
        t.add_row(label, f"{fig[key]:.3f} s", f"{fig[key.removesuffix('_s') + '_cpu_s']:.3f} s")
    t.add_row("peak RSS", f"{fig['peak_rss_mb']:,.0f} MB", "")
    console.print(t)
