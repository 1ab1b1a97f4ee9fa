"""``report.html``: one self-contained page (inline SVG figures, inline CSS, no external URL) per run.

It holds the comparison table of the policies, and figures: utilisation per site, facility power per
site against its envelope, queue length, grid carbon intensity against fleet load, the wait CDF per
policy, and a map of the sites over a hand-made outline of France. Figures are matplotlib SVG with a
fixed hash salt and no date metadata, so the same run writes the same bytes.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from hexagrid.domain import Scenario
from hexagrid.simulation.fleetindex import FleetIndex
from hexagrid.simulation.metrics import same_outcome_note

__all__ = ["FRANCE_OUTLINE", "write_report"]

#: A coarse hand-made outline of mainland France and Corsica, (longitude, latitude) in degrees, clockwise
#: from Dunkirk. Drawn from memory of the coastline and borders at ~20-50 km resolution: good enough to
#: place sites, not for measuring anything.
FRANCE_OUTLINE: tuple[tuple[float, float], ...] = (
    (2.37, 51.05),
    (3.1, 50.8),
    (3.7, 50.35),
    (4.2, 49.95),
    (4.85, 50.15),
    (5.8, 49.55),
    (6.4, 49.47),
    (6.7, 49.2),
    (7.4, 49.17),
    (8.2, 48.97),
    (7.8, 48.6),
    (7.55, 48.1),
    (7.6, 47.6),
    (7.0, 47.45),
    (6.1, 46.6),
    (6.15, 46.2),
    (6.85, 45.85),
    (7.0, 45.3),
    (6.9, 44.8),
    (7.0, 44.2),
    (7.5, 43.78),
    (7.27, 43.7),
    (7.0, 43.55),
    (6.6, 43.25),
    (5.93, 43.1),
    (5.35, 43.3),
    (4.6, 43.35),
    (3.7, 43.4),
    (3.2, 43.2),
    (3.05, 42.8),
    (3.17, 42.44),
    (2.5, 42.4),
    (1.7, 42.5),
    (0.7, 42.85),
    (0.0, 42.8),
    (-1.0, 43.0),
    (-1.78, 43.37),
    (-1.55, 43.45),
    (-1.2, 44.65),
    (-1.05, 45.6),
    (-1.15, 46.15),
    (-2.2, 47.27),
    (-3.4, 47.7),
    (-4.7, 48.0),
    (-4.5, 48.4),
    (-2.0, 48.65),
    (-1.6, 49.65),
    (0.1, 49.5),
    (1.6, 50.7),
    (1.85, 50.95),
    (2.37, 51.05),
)
CORSICA_OUTLINE: tuple[tuple[float, float], ...] = (
    (9.4, 43.0),
    (9.55, 42.6),
    (9.4, 41.95),
    (9.2, 41.37),
    (8.8, 41.6),
    (8.6, 42.0),
    (8.55, 42.4),
    (8.85, 42.65),
    (9.3, 42.8),
    (9.4, 43.0),
)

_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_XMLNS = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')
_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
_STYLES = (("-", 1.8), ("--", 1.3), ("-.", 1.1), (":", 1.4))  # overlapping policies stay visible
_MAX_SITE_PANELS = 9


def _style(c: int) -> dict[str, Any]:
    ls, lw = _STYLES[c % len(_STYLES)]
    return {"color": _COLORS[c % len(_COLORS)], "ls": ls, "lw": lw}


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px auto;max-width:1280px;color:#222;padding:0 16px}
h1{font-size:1.6em;margin-bottom:0.2em} h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:4px}
p.meta{color:#555;margin-top:0} table{border-collapse:collapse;margin:8px 0;font-size:0.92em}
th,td{border:1px solid #ccc;padding:4px 10px;text-align:right} th{background:#f3f3f3} td:first-child,th:first-child{text-align:left}
tr.bad td{background:#fde2e2} .ok{color:#1a7f37;font-weight:600} .no{color:#b42318;font-weight:600}
figure{margin:12px 0} figcaption{color:#555;font-size:0.9em} .note{color:#555;font-size:0.9em}
svg{max-width:100%;height:auto}
"""


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "hexagrid"}, bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    # inline SVG in HTML needs no namespace declarations or RDF metadata: drop them, so the page holds no URL
    text = _METADATA.sub("", text)
    return _XMLNS.sub("", text)


def _hours(runs: Sequence[Any]) -> np.ndarray:
    longest = max(runs, key=lambda r: len(r.series["time_s"]))
    return (longest.series["time_s"] - longest.result.start_s) / 86400.0


def _pad(a: np.ndarray, n: int) -> np.ndarray:
    return a if a.shape[-1] >= n else np.concatenate([a, np.zeros((*a.shape[:-1], n - a.shape[-1]))], axis=-1)


def _figure_legend(fig: Any, ax: Any) -> None:
    """One legend above the panels, so it never hides a curve or a note."""
    handles, labels = ax.get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.legend(
        handles, labels, loc="upper center", ncol=len(labels), fontsize=8, frameon=False, bbox_to_anchor=(0.5, 1.0)
    )


def _top_sites(runs: Sequence[Any], index: FleetIndex) -> list[int]:
    used = sum(r.series["busy_gpus"].sum(axis=1) for r in runs)
    order = [int(i) for i in np.argsort(-used, kind="stable") if used[i] > 0]
    return order[:_MAX_SITE_PANELS] or [0]


def _fig_site_utilisation(runs: Sequence[Any], index: FleetIndex, sites: list[int]) -> str:
    days = _hours(runs)
    n = len(days)
    cols = min(3, len(sites))
    rows = -(-len(sites) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.6 * rows), squeeze=False, sharex=True)
    for k, si in enumerate(sites):
        ax = axes[k // cols][k % cols]
        top = 0.0
        for c, r in enumerate(runs):
            pct = 100.0 * _pad(r.series["busy_gpus"], n)[si] / index.site_gpus[si]
            top = max(top, float(pct.max(initial=0.0)))
            ax.plot(days, pct, label=r.name, **_style(c))
        ax.set_title(f"{index.site_ids[si]} ({index.site_gpus[si]:,} GPUs)", fontsize=9)
        ax.set_ylim(0, min(105.0, max(1.0, top * 1.15)))
        ax.grid(alpha=0.3)
        if k % cols == 0:
            ax.set_ylabel("busy GPUs (%)")
        if k // cols == rows - 1:
            ax.set_xlabel("day of simulation")
    for k in range(len(sites), rows * cols):
        axes[k // cols][k % cols].axis("off")
    _figure_legend(fig, axes[0][0])
    return _svg(fig)


def _fig_site_power(runs: Sequence[Any], index: FleetIndex, sites: list[int]) -> str:
    days = _hours(runs)
    n = len(days)
    cols = min(3, len(sites))
    rows = -(-len(sites) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.6 * rows), squeeze=False, sharex=True)
    for k, si in enumerate(sites):
        ax = axes[k // cols][k % cols]
        env_mw = index.site_envelope_w[si] / 1e6
        top = 0.0
        for c, r in enumerate(runs):
            fac = _pad(r.series["facility_power_w"], n)[si] / 1e6
            top = max(top, float(fac.max(initial=0.0)))
            ax.plot(days, fac, label=r.name, **_style(c))
        ax.set_title(f"{index.site_ids[si]} (envelope {env_mw:g} MW)", fontsize=9)
        # the envelope is drawn when the load comes within a third of it; otherwise the scale follows the load
        if top >= env_mw / 3:
            ax.axhline(env_mw, color="k", ls="--", lw=1, label="envelope")
            ax.set_ylim(0, env_mw * 1.1)
        else:
            ax.set_ylim(0, max(top * 1.25, env_mw / 1000))
            ax.text(
                0.98,
                0.92,
                f"envelope {env_mw:g} MW: off scale",
                transform=ax.transAxes,
                ha="right",
                va="top",
                fontsize=7,
                color="#555",
            )
        ax.grid(alpha=0.3)
        if k % cols == 0:
            ax.set_ylabel("facility power (MW)")
        if k // cols == rows - 1:
            ax.set_xlabel("day of simulation")
    for k in range(len(sites), rows * cols):
        axes[k // cols][k % cols].axis("off")
    _figure_legend(fig, axes[0][0])
    return _svg(fig)


def _fig_queue(runs: Sequence[Any]) -> str:
    fig, ax = plt.subplots(figsize=(10, 3.2))
    for c, r in enumerate(runs):
        t = (r.result.pass_time_s - r.result.start_s) / 86400.0
        if len(t):
            ax.step(t, r.result.pass_queue_len, where="post", label=r.name, **_style(c))
    ax.set_xlabel("day of simulation")
    ax.set_ylabel("jobs waiting")
    ax.set_title("Queue length at each scheduling pass")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _svg(fig)


def _fig_carbon_load(runs: Sequence[Any], index: FleetIndex, scenario: Scenario) -> str:
    days = _hours(runs)
    n = len(days)
    fig, ax = plt.subplots(figsize=(10, 3.6))
    for c, r in enumerate(runs):
        load = _pad(r.series["facility_power_w"], n).sum(axis=0) / 1e6
        ax.plot(days, load, label=f"{r.name}: fleet facility power", **_style(c))
    ax.set_xlabel("day of simulation")
    ax.set_ylabel("fleet facility power (MW)")
    ax.grid(alpha=0.3)
    ax2 = ax.twinx()
    longest = max(runs, key=lambda r: len(r.series["time_s"]))
    inten = longest.series["intensity_g_per_kwh"]
    # the intensity of the zone hosting most GPUs (all French sites share FR)
    main = int(np.argmax(index.site_gpus))
    ax2.plot(
        days,
        inten[main][:n],
        lw=0.8,
        color="#444",
        alpha=0.6,
        ls=":",
        label=f"grid intensity ({scenario.sites[main].grid_zone})",
    )
    ax2.set_ylabel("grid carbon intensity (gCO2/kWh)")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="upper right")
    ax.set_title("Fleet load against grid carbon intensity (hourly means)")
    fig.tight_layout()
    return _svg(fig)


def _fig_wait_cdf(runs: Sequence[Any]) -> str:
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for c, r in enumerate(runs):
        res = r.result
        started = ~np.isnan(res.first_start_s)
        w = np.sort(res.first_start_s[started] - res.submit_s[started])
        if not len(w):
            continue
        y = np.arange(1, len(w) + 1) / res.n_jobs
        # thin the curve to at most ~2,000 points: the SVG stays small
        step = max(1, len(w) // 2000)
        ax.step(np.maximum(w[::step], 1.0), y[::step], where="post", label=r.name, **_style(c))
    ax.set_xscale("log")
    ax.set_xlabel("wait before first start (s, log; waits under 1 s drawn at 1 s)")
    ax.set_ylabel("fraction of jobs")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("Wait CDF per policy")
    fig.tight_layout()
    return _svg(fig)


def _fig_map(runs: Sequence[Any], index: FleetIndex) -> str:
    fig, ax = plt.subplots(figsize=(6.2, 6.2))
    for outline in (FRANCE_OUTLINE, CORSICA_OUTLINE):
        xs, ys = zip(*outline, strict=True)
        ax.fill(xs, ys, color="#eef2f6", ec="#8a99a8", lw=1)
    lon = np.array([s.longitude for s in index.sites])
    lat = np.array([s.latitude for s in index.sites])
    gpu_h = np.zeros(len(index.sites))
    for r in runs:
        gpu_h += np.bincount(
            index.pool_site[r.result.seg_pool],
            r.result.seg_gpus * (r.result.seg_end_s - r.result.seg_start_s),
            minlength=len(index.sites),
        )
    gpu_h /= 3600.0 * max(len(runs), 1)
    size = 30 + 900 * np.sqrt(index.site_gpus / index.site_gpus.max())
    big_first = np.argsort(-size, kind="stable")  # small sites drawn over big ones
    sc = ax.scatter(
        lon[big_first],
        lat[big_first],
        s=size[big_first],
        c=gpu_h[big_first],
        cmap="viridis",
        alpha=0.85,
        ec="k",
        lw=0.5,
        zorder=3,
    )
    fig.colorbar(sc, ax=ax, shrink=0.6, label="GPU-hours run (mean over policies)")
    # labels right of each marker; a label that would overlap one already placed moves down a line
    order = np.argsort(-lat, kind="stable")
    placed: list[tuple[float, float]] = []
    for i in order:
        x, y = float(lon[i]), float(lat[i])
        ty = y
        while any(abs(x - px) < 3.0 and abs(ty - py) < 0.32 for px, py in placed):
            ty -= 0.32
        placed.append((x, ty))
        r_deg = np.sqrt(size[i]) / 2 / 20  # marker radius in degrees (about 20 pt per degree at this size)
        ax.annotate(
            index.site_ids[i],
            (x, y),
            xytext=(x + 0.35 + r_deg, ty),
            fontsize=7,
            zorder=4,
            va="center",
            arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "#666"} if abs(ty - y) > 0.01 else None,
        )
    lo_x, hi_x = min(-5.5, float(lon.min()) - 1), max(10.0, float(lon.max()) + 2.5)
    lo_y, hi_y = min(41.0, float(lat.min()) - 1), max(51.5, float(lat.max()) + 1)
    ax.set_xlim(lo_x, hi_x)
    ax.set_ylim(lo_y, hi_y)
    ax.set_aspect(1.0 / np.cos(np.radians(46.5)))
    ax.set_xlabel("longitude (°)")
    ax.set_ylabel("latitude (°)")
    ax.set_title("Sites (marker area ~ GPUs, colour = GPU-hours run)")
    fig.tight_layout()
    return _svg(fig)


_TABLE_ROWS: tuple[tuple[str, str, str], ...] = (
    ("jobs", "jobs", "{:,}"),
    ("completed", "completed", "{:,}"),
    ("constraint_violations", "constraint violations", "{:,}"),
    ("utilisation", "utilisation", "{:.1%}"),
    ("mean_wait_s", "mean wait (s)", "{:,.0f}"),
    ("p50_wait_s", "p50 wait (s)", "{:,.0f}"),
    ("p95_wait_s", "p95 wait (s)", "{:,.0f}"),
    ("p99_wait_s", "p99 wait (s)", "{:,.0f}"),
    ("mean_completion_s", "mean completion (s)", "{:,.0f}"),
    ("p99_completion_s", "p99 completion (s)", "{:,.0f}"),
    ("mean_bounded_slowdown", "mean bounded slowdown", "{:.2f}"),
    ("gpu_hours", "GPU-hours", "{:,.0f}"),
    ("energy_mwh", "facility energy (MWh)", "{:,.1f}"),
    ("tco2", "carbon (tCO2)", "{:,.2f}"),
    ("cost_eur", "cost (EUR)", "{:,.0f}"),
    ("heat_reused_mwh", "heat reused (MWh)", "{:,.1f}"),
    ("deadline_misses", "deadline misses", "{:,}"),
    ("preemptions", "preemptions", "{:,}"),
    ("scheduling_passes", "scheduling passes", "{:,}"),
)


def _table(summary: dict[str, Any]) -> str:
    pols = list(summary["policies"])
    head = "".join(f"<th>{html.escape(p)}</th>" for p in pols)
    rows = []
    for key, label, fmt in _TABLE_ROWS:
        vals = [summary["policies"][p].get(key) for p in pols]
        bad = key == "constraint_violations" and any(v for v in vals)
        cells = "".join(f"<td>{html.escape(fmt.format(v)) if v is not None else '–'}</td>" for v in vals)
        rows.append(f"<tr{' class=bad' if bad else ''}><td>{html.escape(label)}</td>{cells}</tr>")
    return f"<table><tr><th>metric</th>{head}</tr>{''.join(rows)}</table>"


def write_report(
    path: Path, scenario: Scenario, index: FleetIndex, runs: Sequence[Any], summary: dict[str, Any]
) -> Path:
    """Write the report to ``path`` and return it."""
    with matplotlib.rc_context(
        {"svg.hashsalt": "hexagrid", "svg.fonttype": "none", "font.size": 9, "path.simplify": True}
    ):
        sites = _top_sites(runs, index)
        figures = [
            (
                "Where the sites are",
                _fig_map(runs, index),
                "Site positions from the scenario (latitude/longitude) over a coarse hand-drawn outline of France.",
            ),
            (
                "Utilisation per site",
                _fig_site_utilisation(runs, index, sites),
                "Hourly mean of busy GPUs as a share of the site's GPUs, per policy (the busiest sites).",
            ),
            (
                "Facility power per site against its envelope",
                _fig_site_power(runs, index, sites),
                "Hourly mean facility power (IT x PUE, the shared power model) per policy; dashed: the site's "
                "power envelope. Instantaneous peaks are in summary.json (peak_facility_mw_by_site).",
            ),
            ("Queue length", _fig_queue(runs), "Jobs waiting at each scheduling pass."),
            (
                "Carbon intensity against load",
                _fig_carbon_load(runs, index, scenario),
                "A carbon-aware policy moves flexible load towards the hours when the grid is cleaner.",
            ),
            (
                "Wait CDF",
                _fig_wait_cdf(runs),
                "Share of all jobs started within a given wait; curves that end below 1 left jobs unstarted.",
            ),
        ]
    violations = {p: s["constraint_violations"] for p, s in summary["policies"].items()}
    ok = all(v == 0 for v in violations.values())
    carbon = summary["carbon"]
    parts = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        f"<title>Hexagrid simulation: {html.escape(summary['scenario'])} / {html.escape(summary['trace'])}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Simulation: {html.escape(summary['scenario'])} × {html.escape(summary['trace'])}</h1>",
        f"<p class=meta>{summary['jobs']:,} jobs · {summary['fleet']['sites']} sites · "
        f"{summary['fleet']['gpus']:,} GPUs · {summary['fleet']['power_mw']:,} MW · seed {summary['seed']} · "
        f"start {html.escape(summary['start'][:10])}</p>",
        f"<p class=meta>Carbon: {html.escape(str(carbon['source']))}, forecast {html.escape(carbon['forecast'])}. "
        f"{html.escape(carbon['mapping'])}.</p>",
        "<p>Hard constraints re-checked independently at every start: "
        + (
            "<span class=ok>0 violations</span> for every policy.</p>"
            if ok
            else f"<span class=no>violations found</span>: {html.escape(str(violations))}.</p>"
        ),
        "<h2>Policies side by side</h2>",
        _table(summary),
        "<p class=note>Wait: first start minus submission. Completion: end minus submission. Bounded slowdown: "
        "completion / max(run time, 10 s). Energy is facility energy (IT x PUE); heat reused is IT energy x the "
        "site's heat-reuse fraction. Cost: GPU-hours x the site's price (public supercomputers charge an "
        "allocation, 0 EUR) plus the energy bill where a site pays its own power.</p>",
    ]
    same = same_outcome_note(summary)
    if same is not None:
        parts.append(f"<p class=note>{html.escape(same)}</p>")
    for title, svg, caption in figures:
        parts.append(
            f"<h2>{html.escape(title)}</h2><figure>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    parts.append("</body></html>\n")
    path.write_text("".join(parts), encoding="utf-8")
    return path
