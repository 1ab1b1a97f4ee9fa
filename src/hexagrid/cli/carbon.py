"""``hexagrid carbon ...``: look at grid carbon data and at what shifting work in time could save."""

from __future__ import annotations

import base64
import html
import io
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from hexagrid.cli.common import console, print_json
from hexagrid.errors import InputError

if TYPE_CHECKING:
    from hexagrid.energy.carbon import CarbonTrace

app = typer.Typer(
    help="Grid carbon intensity: zone statistics, plots and the potential of shifting work in time.",
    no_args_is_help=True,
)

DATA_HELP = "carbon data: a wide, long or eCO2mix CSV (optionally .gz/.xz), or builtin:2022"


def _load(data: str) -> CarbonTrace:
    from hexagrid.energy.carbon import load_carbon

    return load_carbon(data)


@app.command("zones")
def zones_cmd(
    data: str = typer.Option("builtin:2022", "--data", help=DATA_HELP),
    as_json: bool = typer.Option(False, "--json", help="one JSON document instead of a table"),
) -> None:
    """Per zone: mean, min, p5, median, p95 and max intensity (gCO2eq/kWh) over the whole data."""
    trace = _load(data)
    stats = trace.stats()
    if as_json:
        print_json(
            {
                "source": trace.source,
                "start": trace.start.isoformat(),
                "hours": trace.hours,
                "zones": [
                    {
                        "zone": s.zone,
                        "mean": round(s.mean, 3),
                        "min": s.min,
                        "p5": round(s.p5, 3),
                        "median": round(s.median, 3),
                        "p95": round(s.p95, 3),
                        "max": s.max,
                    }
                    for s in stats
                ],
            }
        )
        return
    end = trace.end - timedelta(hours=1)
    table = Table(
        title=f"{trace.source}: {trace.hours:,} hours, {trace.start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC "
        "(gCO2eq/kWh)"
    )
    table.add_column("zone")
    for col in ("mean", "min", "p5", "median", "p95", "max"):
        table.add_column(col, justify="right")
    for s in stats:
        table.add_row(s.zone, *(f"{v:.1f}" for v in (s.mean, s.min, s.p5, s.median, s.p95, s.max)))
    console.print(table)


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option}: cannot read {text!r} as a date; expected YYYY-MM-DD") from None


@app.command("show")
def show_cmd(
    zone: str = typer.Option(..., "--zone", help="zone code, or several separated by commas (FR,DE)"),
    from_: str = typer.Option(..., "--from", help="first day, YYYY-MM-DD (UTC)"),
    to: str = typer.Option(..., "--to", help="last day included, YYYY-MM-DD (UTC)"),
    out: Path = typer.Option(..., "--out", help="FILE.png, FILE.svg or FILE.html (self-contained, no network)"),
    data: str = typer.Option("builtin:2022", "--data", help=DATA_HELP),
) -> None:
    """Plot hourly intensity of one or more zones between two days."""
    trace = _load(data)
    names = [z.strip() for z in zone.split(",") if z.strip()]
    if not names:
        raise InputError("--zone: give at least one zone code, e.g. FR")
    rows = [trace.zone_index(z) for z in names]
    d0, d1 = _day(from_, "--from"), _day(to, "--to")
    if d1 < d0:
        raise InputError(f"--to ({d1}) must not be before --from ({d0})")
    first, last = trace.start.date(), (trace.end - timedelta(hours=1)).date()
    if d1 < first or d0 > last:
        raise InputError(f"--from {d0} --to {d1} is outside {trace.source}, which covers {first} to {last}")
    h0 = max(0, int((datetime(d0.year, d0.month, d0.day, tzinfo=UTC) - trace.start).total_seconds() // 3600))
    h1 = min(
        trace.hours,
        int(
            (datetime(d1.year, d1.month, d1.day, tzinfo=UTC) + timedelta(days=1) - trace.start).total_seconds() // 3600
        ),
    )
    suffix = out.suffix.lower()
    if suffix not in (".png", ".svg", ".html", ".htm"):
        raise InputError(f"--out: {out.name} must end in .png, .svg or .html")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = trace.timestamps()[h0:h1]
    fig, ax = plt.subplots(figsize=(11, 4), dpi=110)
    for z, r in zip(names, rows, strict=True):
        ax.step(times, trace.values[r, h0:h1], where="post", label=z, linewidth=1.1)
    ax.set_ylabel("gCO2eq/kWh")
    ax.set_title(f"Grid carbon intensity, {d0} to {d1} (UTC) — {trace.source}")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", ncols=min(len(names), 6))
    fig.autofmt_xdate()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix in (".png", ".svg"):
        fig.savefig(out)
    else:
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        img = base64.b64encode(buf.getvalue()).decode("ascii")
        stats = "".join(
            f"<tr><td>{html.escape(z)}</td><td>{trace.values[r, h0:h1].mean():.1f}</td>"
            f"<td>{trace.values[r, h0:h1].min():.1f}</td><td>{trace.values[r, h0:h1].max():.1f}</td></tr>"
            for z, r in zip(names, rows, strict=True)
        )
        out.write_text(
            "<!doctype html><html><head><meta charset='utf-8'><title>Carbon intensity</title>"
            "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 10px;text-align:right}</style></head>"
            f"<body><h1>Grid carbon intensity, {d0} to {d1} (UTC)</h1>"
            f"<p>Source: {html.escape(trace.source)}; hourly gCO2eq/kWh.</p>"
            f"<img alt='hourly carbon intensity' src='data:image/png;base64,{img}'>"
            f"<table><tr><th>zone</th><th>mean</th><th>min</th><th>max</th></tr>{stats}</table></body></html>",
            encoding="utf-8",
        )
    plt.close(fig)
    console.print(f"wrote {out} ({h1 - h0} hours, zones {', '.join(names)})")


@app.command("potential")
def potential_cmd(
    zone: str = typer.Option("FR", "--zone", help="zone code, or 'all' for a table of every zone"),
    job_hours: int = typer.Option(..., "--job-hours", help="job length L in hours (>= 1)"),
    slack_hours: int = typer.Option(..., "--slack-hours", help="how long a job may wait, S hours (>= 0)"),
    data: str = typer.Option("builtin:2022", "--data", help=DATA_HELP),
    as_json: bool = typer.Option(False, "--json", help="JSON instead of a table (a list for --zone all)"),
) -> None:
    """Carbon saved by shifting L-hour jobs within S hours of slack (non-interruptible and interruptible)."""
    from hexagrid.energy.potential import potential_for_trace

    trace = _load(data)
    names = list(trace.zones) if zone == "all" else [zone]
    for z in names:
        trace.zone_index(z)
    t0 = time.perf_counter()
    results = potential_for_trace(trace, job_hours, slack_hours, names)
    elapsed = time.perf_counter() - t0
    if as_json:
        docs = [r.as_dict() for r in results]
        print_json(docs if zone == "all" else docs[0])
        return
    table = Table(
        title=f"Decarbonisation potential of shifting {job_hours} h jobs with {slack_hours} h slack "
        f"({trace.source}, {trace.hours:,} hours)"
    )
    table.add_column("zone")
    table.add_column("mean g/kWh", justify="right")
    table.add_column("non-interruptible %", justify="right")
    table.add_column("interruptible %", justify="right")
    for r in results:
        table.add_row(
            r.zone, f"{trace.series(r.zone).mean():.1f}", f"{r.noninterruptible_pct:.2f}", f"{r.interruptible_pct:.2f}"
        )
    console.print(table)
    console.print(f"[dim]{len(results)} zone(s) in {elapsed:.2f} s[/dim]")


@app.command("forecast")
def forecast_cmd(
    zone: str = typer.Option("FR", "--zone", help="zone code, or 'all'"),
    kind: str = typer.Option("persistence", "--kind", help="perfect, persistence or noisy"),
    hours: int = typer.Option(24, "--hours", min=2, help="forecast horizon in hours (hour 0 is known)"),
    mape: float = typer.Option(0.1, "--mape", help="noisy only: mean absolute percentage error, as a fraction"),
    seed: int = typer.Option(0, "--seed", min=0, help="noisy only: seed of the error"),
    every: int = typer.Option(6, "--every", min=1, help="issue a forecast every this many hours of the data"),
    data: str = typer.Option("builtin:2022", "--data", help=DATA_HELP),
    as_json: bool = typer.Option(False, "--json", help="JSON instead of a table"),
) -> None:
    """How wrong a forecaster is on the data: MAPE of its forecasts 1..hours-1 hours ahead, per zone."""
    from hexagrid.energy.forecast import forecast_mape, make_signals

    if kind not in ("perfect", "persistence", "noisy"):
        raise InputError(f"--kind must be perfect, persistence or noisy, got {kind!r}")
    trace = _load(data)
    names = list(trace.zones) if zone == "all" else [zone]
    for z in names:
        trace.zone_index(z)
    signals = make_signals(kind, trace, mape=mape, seed=seed)  # type: ignore[arg-type]
    rows = [
        {"zone": z, "kind": kind, "hours": hours, "mape_pct": 100.0 * forecast_mape(signals, z, hours, every)}
        for z in names
    ]
    if as_json:
        print_json(rows if zone == "all" else rows[0])
        return
    what = f"{kind} (target MAPE {100 * mape:.0f}%)" if kind == "noisy" else kind
    table = Table(title=f"{what} forecast error, 1..{hours - 1} h ahead, issued every {every} h ({trace.source})")
    table.add_column("zone")
    table.add_column("mean g/kWh", justify="right")
    table.add_column("MAPE %", justify="right")
    for r in rows:
        table.add_row(str(r["zone"]), f"{trace.series(str(r['zone'])).mean():.1f}", f"{r['mape_pct']:.1f}")
    console.print(table)


def bench_energy(
    jobs: int = typer.Option(1_000_000, "--jobs", min=1, help="jobs in the vectorised accounting run"),
    seed: int = typer.Option(0, "--seed", min=0, help="seed of the random inputs"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object instead of a table"),
) -> None:
    """Time the energy layer: load, potential (every zone), accounting of many jobs, forecasts, LP bound."""
    from rich.progress import Progress

    from hexagrid.energy.benchmark import run_energy_bench

    with Progress(transient=True, console=console, disable=as_json) as progress:
        task = progress.add_task("energy", total=5)

        def step(msg: str) -> None:
            progress.update(task, description=msg, advance=1)

        fig = run_energy_bench(jobs=jobs, seed=seed, step=step)
    if as_json:
        print_json(fig)
        return
    table = Table(title="hexagrid bench energy")
    table.add_column("what")
    table.add_column("figure", justify="right")
    table.add_row(f"load builtin:2022 ({fig['zones']} zones x {fig['hours']:,} h)", f"{fig['load_builtin_s']:.3f} s")
    for key, val in fig["potential"].items():
        table.add_row(f"potential, every zone, {key}", f"{val['seconds']:.3f} s")
    table.add_row("potential, every zone, all four settings", f"{fig['potential_all_zones_4_settings_s']:.3f} s")
    table.add_row(f"account_jobs, {fig['account_jobs']:,} jobs", f"{fig['account_jobs_s']:.3f} s")
    for name in ("perfect", "persistence", "noisy"):
        table.add_row(f"forecast_g_per_kwh ({name}, 48 h)", f"{fig[f'forecast_{name}_us_per_call']:.1f} µs/call")
    table.add_row(
        f"LP bound ({fig['oracle_variables']:,} variables, {fig['oracle_constraints']:,} rows)",
        f"{fig['oracle_s']:.3f} s",
    )
    console.print(table)
    pot = Table(title="potential % (non-interruptible / interruptible), 2022")
    pot.add_column("zone")
    for key in fig["potential"]:
        pot.add_column(key, justify="right")
    for zone in ("FR", "DE", "GB", "ES", "PL", "SE-SE3"):
        pot.add_row(zone, *(f"{v[zone][0]:.2f} / {v[zone][1]:.2f}" for v in fig["potential"].values()))
    console.print(pot)
