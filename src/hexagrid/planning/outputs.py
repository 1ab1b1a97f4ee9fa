"""What a plan writes: the plan table (CSV/JSON), totals, two plots and one fleet scenario per planned year.

The fleet scenarios are ordinary :class:`hexagrid.domain.Scenario` documents (validated before they are
written), so ``hexagrid simulate --scenario out/plan/fleet-2030.yaml`` runs the planned fleet.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from hexagrid.domain import CATALOG, Scenario
from hexagrid.domain.kinds import TenantClass
from hexagrid.energy.power import busy_gpu_it_power_w
from hexagrid.errors import InputError
from hexagrid.planning.inputs import Ownership
from hexagrid.planning.solve import Plan, reference_capacity_gpu_h

__all__ = ["FRANCE_OUTLINE", "fleet_scenario", "plot_capacity", "plot_map", "write_outputs"]

#: A coarse outline of mainland France and Corsica (lon, lat), drawn from memory of the coastline and
#: borders at ~50 km resolution: enough to place the sites on a map without downloading shapes.
FRANCE_OUTLINE: list[list[tuple[float, float]]] = [
    [
        (2.55, 51.09),
        (1.62, 50.87),
        (1.58, 50.2),
        (1.2, 49.95),
        (0.15, 49.7),
        (0.3, 49.45),
        (-0.2, 49.3),
        (-1.1, 49.4),
        (-1.25, 49.7),
        (-1.95, 49.72),
        (-1.6, 48.65),
        (-2.3, 48.65),
        (-3.0, 48.82),
        (-4.0, 48.72),
        (-4.77, 48.5),
        (-4.3, 48.1),
        (-4.7, 47.95),
        (-3.5, 47.7),
        (-2.8, 47.5),
        (-2.1, 47.25),
        (-2.0, 46.85),
        (-1.2, 46.2),
        (-1.25, 45.7),
        (-1.2, 44.6),
        (-1.45, 43.5),
        (-1.78, 43.36),
        (-0.6, 42.8),
        (0.7, 42.85),
        (1.7, 42.5),
        (3.17, 42.43),
        (3.05, 43.1),
        (4.0, 43.5),
        (4.85, 43.35),
        (5.4, 43.2),
        (6.6, 43.15),
        (7.5, 43.78),
        (7.0, 44.2),
        (6.9, 44.9),
        (7.05, 45.9),
        (6.2, 46.3),
        (6.1, 46.6),
        (7.0, 47.5),
        (7.6, 47.58),
        (7.55, 48.1),
        (8.2, 48.97),
        (6.9, 49.2),
        (6.35, 49.47),
        (5.8, 49.55),
        (4.85, 50.15),
        (4.15, 49.98),
        (3.7, 50.3),
        (3.25, 50.75),
        (2.55, 51.09),
    ],
    [(8.55, 42.95), (9.4, 43.0), (9.55, 42.1), (9.2, 41.37), (8.8, 41.55), (8.6, 42.15), (8.55, 42.95)],
]


def _round_gpus(gpus: int, gpn: int) -> int:
    return max(1, round(gpus / gpn))


def _fleet_facility_mw(plan: Plan, pools: dict[str, int], pue: float) -> float:
    """Facility MW of the pools as written (catalog types) at the plan's sizing utilisation."""
    gpn = plan.scenario.gpus_per_node
    u = plan.scenario.power_sizing_utilisation
    it_w = sum(
        _round_gpus(n, gpn) * gpn * busy_gpu_it_power_w(CATALOG[name].tdp_w, CATALOG[name].idle_w, float(gpn), u)
        for name, n in pools.items()
    )
    return float(it_w) * pue / 1e6


def _served(plan: Plan, year: int, cls: str, res: str, site_id: str) -> float:
    """Reference GPU-hours the plan serves for (year, class, residency) at one site."""
    return float(
        round(
            sum(
                v
                for (y, c, r, s), v in plan.served_gpu_h.items()
                if y == year and c == cls and r == res and s == site_id
            ),
            1,
        )
    )


def fleet_scenario(plan: Plan, year: int) -> dict[str, Any]:
    """The planned fleet of ``year`` as a Scenario document (a dict ready for YAML), validated.

    Each site with accelerators becomes a site with one pool of ``gpus_per_node``-GPU nodes per type. A
    roadmap type outside the catalog appears as its ``fleet_as`` type, its GPU count scaled by training
    throughput so the pool delivers the same reference work (rounded to whole nodes).
    """
    scn = plan.scenario
    if not plan.feasible or year not in plan.years or not plan.gpus[:, :, plan.years.index(year)].any():
        raise InputError(f"no planned fleet for {year}: the plan is {plan.status} or has no accelerators that year")
    t = plan.years.index(year)
    roadmap = {a.name: a for a in scn.accelerators}
    gpn = scn.gpus_per_node
    sites: list[dict[str, Any]] = []
    for s, site in enumerate(scn.sites):
        pools: dict[str, int] = {}
        for a, name in enumerate(plan.types):
            n = int(plan.gpus[s, a, t])
            if n <= 0:
                continue
            entry = roadmap[name]
            fleet_type = entry.fleet_type
            if fleet_type != name:
                n = round(n * entry.accelerator().training_throughput / CATALOG[fleet_type].training_throughput)
            pools[fleet_type] = pools.get(fleet_type, 0) + n
        if not pools or plan.mw[s, t] <= 0:
            continue
        opt = next((c for c in scn.cooling_options if c.id == plan.cooling[s]), scn.cooling_options[0])
        public = site.ownership is Ownership.PUBLIC
        doc: dict[str, Any] = {
            "id": site.id,
            "name": site.name,
            "operator": site.operator,
            "kind": "public_supercomputer" if public else "private_cloud",
            "country": site.country,
            "region": site.region,
            "latitude": site.latitude,
            "longitude": site.longitude,
            "grid_zone": site.grid_zone,
            "power_mw": round(max(float(plan.mw[s, t]), _fleet_facility_mw(plan, pools, opt.pue)) + 1e-3, 3),
            "cooling": opt.cooling.value,
            "pue": opt.pue,
            "access": "academic" if public else "both",
            "energy_price_eur_per_mwh": scn.energy_price_eur_per_mwh,
            "pools": [
                {"id": name.lower(), "accelerator": name, "gpus_per_node": gpn, "nodes": _round_gpus(n, gpn)}
                for name, n in sorted(pools.items())
            ],
            "estimates": {
                "pools": f"planned by hexagrid plan ({scn.name}) for {year}",
                "power_mw": "planned facility MW, raised where a hypothetical type shown as a catalog type "
                "(fleet_as) draws more at the sizing utilisation",
            },
        }
        if site.heat_demand_mwh_per_year > 0 and opt.heat_recovery_fraction > 0:
            doc["heat_reuse_fraction"] = opt.heat_recovery_fraction
            doc["heat_taker"] = "nearby heat network"
        if not public:
            prices: dict[str, float] = {}
            for name in pools:
                same = [e for e in scn.accelerators if e.fleet_type == name]
                prices[name] = same[0].rental_eur_per_gpu_h if same else 2.0
            doc["price_eur_per_gpu_h"] = prices
        sites.append(doc)
    public_ids = [d["id"] for d in sites if d["kind"] == "public_supercomputer"]
    tenants: list[dict[str, Any]] = []
    for cls in TenantClass:
        for res in ("FR", "EU", "ANY"):
            tenant: dict[str, Any] = {
                "id": f"{cls.value}-{res.lower()}",
                "name": f"{cls.value} demand, residency {res}",
                "class": cls.value,
                "residency": res,
            }
            if cls is TenantClass.ACADEMIC and public_ids:
                alloc = {sid: _served(plan, year, cls.value, res, sid) + 1.0 for sid in public_ids}
                tenant["projects"] = [{"id": "allocation", "allocations_gpu_h": alloc}]
            tenants.append(tenant)
    doc_all: dict[str, Any] = {
        "name": f"{scn.name}-fleet-{year}",
        "description": f"Fleet planned by `hexagrid plan --scenario {scn.name}` for {year}.",
        "defaults": {"start_date": f"{year}-01-01"},
        "sites": sites,
        "tenants": tenants,
        "notes": [
            f"generated from planning scenario {scn.name}; allocations are the plan's served reference GPU-hours"
        ],
    }
    Scenario.model_validate(doc_all)
    return doc_all


def plot_capacity(plan: Plan, path: Path) -> None:
    """Demand by class (bars) against installed capacity (lines), in reference GPU-hours per year."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    years = plan.years
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    bottom = np.zeros(len(years))
    for cls, colour in (("academic", "#4c72b0"), ("commercial", "#dd8452")):
        vals = np.array([sum(v for (y, c, _r), v in plan.demand_gpu_h.items() if y == yr and c == cls) for yr in years])
        ax.bar(years, vals / 1e9, bottom=bottom / 1e9, color=colour, label=f"demand: {cls}")
        bottom += vals
    if plan.feasible:
        cap = reference_capacity_gpu_h(plan)
        ax.plot(years, cap / 1e9, "k-o", label="installed capacity (100% busy)")
        ax.plot(years, cap * 0.75 / 1e9, "k--", label="installed capacity at 75% utilisation")
    ax.set_xlabel("year")
    ax.set_ylabel("bn reference GPU-hours (A100 = 1)")
    ax.set_title(f"{plan.scenario.name}: capacity against demand")
    ax.set_xticks(years)
    ax.legend(fontsize=8)
    fig.text(
        0.01,
        0.01,
        "capacity counted at training throughput; inference demand is served faster "
        "(inference throughput), so demand may sit above the 75% line",
        fontsize=6,
        color="#555555",
    )
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path)
    plt.close(fig)


def plot_map(plan: Plan, path: Path) -> None:
    """Candidate sites on lat/lon over a coarse outline of France; size = planned MW in the last year."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 7), dpi=110)
    for poly in FRANCE_OUTLINE:
        xs, ys = zip(*poly, strict=True)
        ax.plot(xs, ys, color="#888888", lw=1)
    scn = plan.scenario
    for s, site in enumerate(scn.sites):
        mw = float(plan.mw[s, -1]) if plan.feasible else 0.0
        committed = bool(site.committed)
        if committed:
            colour, label = "#c44e52", "committed"
        elif plan.opened[s] and plan.feasible:
            colour, label = "#55a868", "opened by the plan"
        else:
            colour, label = "#bbbbbb", "candidate, not opened"
        ax.scatter(
            site.longitude,
            site.latitude,
            s=20 + mw / 2.0,
            c=colour,
            alpha=0.75,
            edgecolors="k",
            linewidths=0.5,
            label=label,
        )
        if mw > 0:
            ax.annotate(
                f"{site.id} {mw:,.0f} MW",
                (site.longitude, site.latitude),
                fontsize=6,
                xytext=(4, 4),
                textcoords="offset points",
            )
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles, strict=True))
    ax.legend(uniq.values(), uniq.keys(), fontsize=8, loc="lower left")
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_title(f"{scn.name}: sites in {plan.years[-1]} (marker area ~ MW)")
    ax.set_aspect(1.0 / np.cos(np.radians(46.5)))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_outputs(plan: Plan, out_dir: Path, plots: bool = True) -> dict[str, Path]:
    """Write every output of a plan into ``out_dir``; returns name -> path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    doc = plan.to_dict()
    paths["plan.json"] = out_dir / "plan.json"
    paths["plan.json"].write_text(json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    paths["totals.json"] = out_dir / "totals.json"
    paths["totals.json"].write_text(json.dumps(plan.totals(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    rows = plan.rows()
    paths["plan.csv"] = out_dir / "plan.csv"
    with paths["plan.csv"].open("w", newline="", encoding="utf-8") as fh:
        if rows:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    if plots:
        paths["capacity.png"] = out_dir / "capacity.png"
        plot_capacity(plan, paths["capacity.png"])
        paths["map.png"] = out_dir / "map.png"
        plot_map(plan, paths["map.png"])
    if plan.feasible:
        for year in plan.years:
            if plan.gpus[:, :, plan.years.index(year)].sum() == 0:
                continue
            p = out_dir / f"fleet-{year}.yaml"
            p.write_text(
                yaml.safe_dump(fleet_scenario(plan, year), sort_keys=False, allow_unicode=True), encoding="utf-8"
            )
            paths[p.name] = p
    return paths
