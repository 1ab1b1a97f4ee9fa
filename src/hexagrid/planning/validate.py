"""Check a plan by simulation: replay each planned year's demand on that year's planned fleet.

A national fleet of a million GPUs cannot be replayed job by job in seconds, so each year is replayed on
a *scaled replica*: every pool keeps its accelerator and node shape with ``nodes / k`` nodes (at least one),
every site its power envelope times the same ratio, and the demand of a ``days``-long window is what the plan serves at each
site scaled by that site's replica ratio. ``k`` is chosen so the window holds about
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


def _site_ref_capacity(doc: dict[str, Any]) -> dict[str, float]:
    return {
        s["id"]: float(
            sum(p["nodes"] * p["gpus_per_node"] * CATALOG[p["accelerator"]].training_throughput for p in s["pools"])
        )
        for s in doc["sites"]
    }


def _replica_demand(plan: Plan, year: int, full: dict[str, Any], replica: dict[str, Any]) -> dict[str, float]:
    """Yearly reference GPU-hours per tenant (class-residency) for the replica.

    Each site's planned load (what the plan serves there) is scaled by that site's own replica ratio, so a
    site rounded up to one node does not get demand it would not see in the plan.
    """
    cap_full = _site_ref_capacity(full)
    cap_rep = _site_ref_capacity(replica)
    out: dict[str, float] = {}
    for (y, c, r, sid), v in plan.served_gpu_h.items():
        if y != year or sid not in cap_rep or cap_full.get(sid, 0.0) <= 0:
            continue
        key = f"{c}-{r.lower()}"
        out[key] = out.get(key, 0.0) + v * cap_rep[sid] / cap_full[sid]
    return out


def _mix(plan: Plan, year: int, max_gpus: int) -> Any:
    """D1's default synthetic mix with the year's kind shares and job sizes capped at ``max_gpus``."""
    from hexagrid.workloads.synthetic import SyntheticMix

    base = SyntheticMix()
    sizes = {kind: {g: p for g, p in dist.items() if g <= max_gpus} or {1: 1.0} for kind, dist in base.sizes.items()}
    return base.model_copy(update={"kind_shares": _kind_shares(plan, year), "sizes": sizes})


def validate_plan(
    plan: Plan,
    out_dir: Path | None = None,
    *,
    days: float = 2.0,
    seed: int = 0,
    max_jobs: int = 3_000,
    warmup_days: float = 1.0,
    pass_interval_s: float = 300.0,
    policy: str = "hexagrid",
    show_progress: bool = True,
) -> dict[str, Any]:
    """Replay each planned year's demand on its planned fleet (hexagrid policy); waits and utilisation per year.

    Jobs arrive over ``warmup_days + days``; waits and utilisation are measured over the last ``days`` only,
    once the replica has filled up. Scheduling passes run at most every ``pass_interval_s`` (as Slurm's
    scheduling interval), which bounds the work of a busy replica.
    """
    from rich.progress import Progress

    from hexagrid.energy.carbon import load_carbon
    from hexagrid.simulation.driver import SimConfig
    from hexagrid.simulation.fleetindex import date_to_posix_s
    from hexagrid.simulation.run import simulate_policies
    from hexagrid.workloads import MappingRule
    from hexagrid.workloads.mapping import AttributeShares
    from hexagrid.workloads.synthetic import generate_synthetic

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
            start_s = date_to_posix_s(Scenario.model_validate(full).defaults.start_date)
            span_s = warmup_s + window_s
            mix = _mix(plan, year, _MAX_JOB_GPUS)
            pilot = generate_synthetic(5000, seed, start_s, span_s, mix)
            mean_job_ref_h = float(np.mean(pilot.gpus * pilot.duration_s)) / 3600.0
            k = max(1.0, window_ref / (mean_job_ref_h * max_jobs))
            # keep the largest pool at 8+ nodes so 64-GPU jobs still fit somewhere
            largest = max(p["nodes"] for s in full["sites"] for p in s["pools"])
            k = min(k, max(1.0, largest / 8.0))
            replica = scale_fleet(full, k)
            biggest_pool = max(p["nodes"] * p["gpus_per_node"] for s in replica["sites"] for p in s["pools"])
            if biggest_pool < _MAX_JOB_GPUS:
                mix = _mix(plan, year, biggest_pool)
                pilot = generate_synthetic(5000, seed, start_s, span_s, mix)
                mean_job_ref_h = float(np.mean(pilot.gpus * pilot.duration_s)) / 3600.0
            per_tenant = _replica_demand(plan, year, full, replica)
            window_rep = sum(per_tenant.values()) * window_s / (HOURS_PER_YEAR * 3600.0)
            target_ref = window_rep * span_s / window_s
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
                    tenant_shares={t: v / sum(per_tenant.values()) for t, v in per_tenant.items()},
                    secnumcloud_share=0.0,
                    eu_sovereign_share=0.0,
                )
            )
            table = rule.apply_scenario(table, scen, seed)
            cfg = SimConfig(seed=seed, horizon_s=max(2.0 * window_s, 7 * 86400.0), min_pass_interval_s=pass_interval_s)
            out = simulate_policies(
                scen,
                table,
                carbon=carbon,
                policies=[policy],
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
                    "preemptions": int(res.preemptions.sum()),
                    "power_bound_sites": sorted(
                        sid
                        for sid, mw in out.runs[0].summary["peak_facility_mw_by_site"].items()
                        if mw >= 0.99 * next(x["power_mw"] for x in replica["sites"] if x["id"] == sid)
                    ),
                    "demand_ref_gpu_h_window": round(window_rep, 1),
                }
            )
            progress.advance(task)
    result = {
        "method": "each planned year's demand, a window of `days` days after a warm-up, replayed on a scaled "
        f"replica of the planned fleet with the {policy} policy (estimate; see hexagrid.planning.validate)",
        "policy": policy,
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
