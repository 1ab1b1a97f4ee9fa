"""Check a plan by simulation: replay each planned year's demand on that year's planned fleet.

A national fleet of a million GPUs cannot be replayed job by job in seconds, so each year is replayed on
a *scaled replica*: every pool keeps its accelerator and node shape with ``nodes / k`` nodes (at least one),
every site its power envelope times the same ratio, and the demand of a ``days``-long window is scaled by
the replica's share of the planned reference capacity. ``k`` is chosen so the window holds about
``max_jobs`` synthetic jobs (D1's generator, with the year's kind mix; sizes capped at the largest pool).
Utilisation and waits of the replica estimate those of the full fleet (an estimate: small sites rounded
up to one node are slightly over-represented, which the demand scaling offsets for the fleet as a whole).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np

from hexagrid.domain import CATALOG, Scenario
from hexagrid.planning.model import HOURS_PER_YEAR
from hexagrid.planning.outputs import fleet_scenario
from hexagrid.planning.solve import Plan

__all__ = ["scale_fleet", "validate_plan"]

_MAX_JOB_GPUS = 64


def _ref_capacity(doc: dict[str, Any]) -> float:
    """Reference (training) GPUs of a fleet document: sum of GPUs x training throughput."""
    return float(
        sum(
            p["nodes"] * p["gpus_per_node"] * CATALOG[p["accelerator"]].training_throughput
            for s in doc["sites"]
            for p in s["pools"]
        )
    )


def scale_fleet(doc: dict[str, Any], k: float) -> dict[str, Any]:
    """A replica of a fleet document with ``1/k`` of its nodes per pool (>= 1) and power in proportion."""
    out = copy.deepcopy(doc)
    for site in out["sites"]:
        before = sum(p["nodes"] for p in site["pools"])
        for p in site["pools"]:
            p["nodes"] = max(1, round(p["nodes"] / k))
        after = sum(p["nodes"] for p in site["pools"])
        site["power_mw"] = round(max(site["power_mw"] * after / before, 1e-3), 6)
    for tenant in out.get("tenants", []):
        for proj in tenant.get("projects", []):
            proj["allocations_gpu_h"] = {sid: max(1.0, round(v / k, 1)) for sid, v in proj["allocations_gpu_h"].items()}
    out["name"] = f"{doc['name']}-replica"
    return out


def _kind_shares(plan: Plan, year: int) -> dict[str, float]:
    shares: dict[str, float] = {}
    total = 0.0
    for d in plan.scenario.demand:
        if d.year != year:
            continue
        for kind, share in d.kind.items():
            shares[kind.value] = shares.get(kind.value, 0.0) + d.gpu_hours * share
            total += d.gpu_hours * share
    return {k: v / total for k, v in shares.items()} if total > 0 else {"training": 1.0}


def _tenant_shares(plan: Plan, year: int) -> dict[str, float]:
    out = {f"{c}-{r.lower()}": v for (y, c, r), v in plan.demand_gpu_h.items() if y == year and v > 0}
    total = sum(out.values())
    return {k: v / total for k, v in out.items()}


def validate_plan(
    plan: Plan,
    out_dir: Path | None = None,
    *,
    days: float = 2.0,
    seed: int = 0,
    max_jobs: int = 20_000,
    warmup_days: float = 1.0,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Replay each planned year's demand on its planned fleet (hexagrid policy); waits and utilisation per year.

    Jobs arrive over ``warmup_days + days``; waits and utilisation are measured over the last ``days`` only,
    once the replica has filled up.
    """
    from rich.progress import Progress

    from hexagrid.energy.carbon import load_carbon
    from hexagrid.simulation.driver import SimConfig
    from hexagrid.simulation.fleetindex import date_to_posix_s
    from hexagrid.simulation.run import simulate_policies
    from hexagrid.workloads import MappingRule
    from hexagrid.workloads.mapping import AttributeShares
    from hexagrid.workloads.synthetic import SyntheticMix, generate_synthetic

    carbon = load_carbon("builtin:2022")
    window_s = days * 86400.0
    warmup_s = warmup_days * 86400.0
    years_out: list[dict[str, Any]] = []
    planned = [y for t, y in enumerate(plan.years) if plan.gpus[:, :, t].sum() > 0]
    with Progress(disable=not show_progress, transient=True) as progress:
        task = progress.add_task("validating by simulation", total=len(planned))
        for year in planned:
            full = fleet_scenario(plan, year)
            demand_ref = sum(v for (y, _c, _r), v in plan.demand_gpu_h.items() if y == year)
            window_ref = demand_ref * window_s / (HOURS_PER_YEAR * 3600.0)
            base_mix = SyntheticMix()
            # sizes capped at 64 GPUs: the replica's pools are small; bigger jobs would not fit any pool
            sizes = {
                kind: {g: p for g, p in dist.items() if g <= _MAX_JOB_GPUS} for kind, dist in base_mix.sizes.items()
            }
            mix = base_mix.model_copy(update={"kind_shares": _kind_shares(plan, year), "sizes": sizes})
            start_s = date_to_posix_s(Scenario.model_validate(full).defaults.start_date)
            span_s = warmup_s + window_s
            pilot = generate_synthetic(5000, seed, start_s, span_s, mix)
            mean_job_ref_h = float(np.mean(pilot.gpus * pilot.duration_s)) / 3600.0
            k = max(1.0, window_ref / (mean_job_ref_h * max_jobs))
            replica = scale_fleet(full, k)
            share = _ref_capacity(replica) / max(_ref_capacity(full), 1e-9)
            target_ref = window_ref * share * span_s / window_s
            n_jobs = max(1, round(target_ref / mean_job_ref_h))
            table = generate_synthetic(n_jobs, seed, start_s, span_s, mix, name=f"plan-{year}")
            # one correction for the heavy tail of job sizes: match the drawn work to the target
            drawn_ref = float(np.sum(table.gpus * table.duration_s)) / 3600.0
            if drawn_ref > 0:
                n_jobs = max(1, round(n_jobs * target_ref / drawn_ref))
                table = generate_synthetic(n_jobs, seed, start_s, span_s, mix, name=f"plan-{year}")
            scen = Scenario.model_validate(replica)
            # the planner does not model sovereignty tiers, so the replayed jobs ask for none
            rule = MappingRule(
                shares=AttributeShares(
                    tenant_shares=_tenant_shares(plan, year), secnumcloud_share=0.0, eu_sovereign_share=0.0
                )
            )
            table = rule.apply_scenario(table, scen, seed)
            cfg = SimConfig(seed=seed, horizon_s=max(2.0 * window_s, 7 * 86400.0))
            out = simulate_policies(
                scen,
                table,
                carbon=carbon,
                policies=["hexagrid"],
                seed=seed,
                config=cfg,
                out_dir=None,
                report=False,
                trace_label=f"plan {year}",
            )
            res = out.runs[0].result
            lo, hi = res.start_s + warmup_s, res.start_s + span_s
            overlap = np.clip(np.minimum(res.seg_end_s, hi) - np.maximum(res.seg_start_s, lo), 0.0, None)
            gpus_total = scen.fleet.gpus
            util = float(np.sum(res.seg_gpus * overlap)) / (gpus_total * window_s) if gpus_total else 0.0
            measured = res.submit_s >= lo
            started = measured & ~np.isnan(res.first_start_s)
            wait_h = (res.first_start_s[started] - res.submit_s[started]) / 3600.0
            years_out.append(
                {
                    "year": year,
                    "scale": round(k, 3),
                    "replica_gpus": gpus_total,
                    "planned_gpus": int(plan.gpus[:, :, plan.years.index(year)].sum()),
                    "jobs": int(measured.sum()),
                    "unfinished": int(np.sum(measured & np.isnan(res.end_time_s))),
                    "mean_wait_h": round(float(wait_h.mean()) if len(wait_h) else 0.0, 4),
                    "p99_wait_h": round(float(np.percentile(wait_h, 99)) if len(wait_h) else 0.0, 4),
                    "utilisation": round(util, 4),
                    "constraint_violations": int(res.violations["total"]),
                    "demand_ref_gpu_h_window": round(window_ref * share, 1),
                }
            )
            progress.advance(task)
    result = {
        "method": "each planned year's demand, a window of `days` days, replayed on a scaled replica of the "
        "planned fleet with the hexagrid policy (estimate; see hexagrid.planning.validate)",
        "days": days,
        "warmup_days": warmup_days,
        "seed": seed,
        "max_jobs": max_jobs,
        "years": years_out,
    }
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "validation.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return result
