"""``hexagrid bench simulate``: the simulator at trace scale and at national scale.

(a) The whole Microsoft ITP trace (69,351 jobs) on a fleet sized to it: france-2026's sites and rules
    with every pool's node count scaled by one factor (at least one node; the largest pool open to each
    tenant class keeps room for ITP's 64-GPU jobs), the factor bisected so the trace's offered load (its
    GPU-hours on the reference accelerator) is ``target_utilisation`` of the fleet's capacity counted in
    reference-accelerator equivalents (GPUs x relative training throughput) over the trace's span.
    Power envelopes scale with each site's GPUs.
(b) 1,000,000 synthetic jobs (the workloads package's default mix) over france-2028 (over a million
    accelerators), submitted over a horizon chosen the same way (offered load ``target_utilisation`` of
    the reference capacity), with the tenants' quotas raised to twice their share of that demand
    (:func:`national_scenario`: the scenario's 13 organisations stand in for a country's users).
Both map attributes with the scenario's tenants and run one policy (default ``hexagrid``) end to end, with
the CLI's default batching (at most one scheduling pass per 60 s of simulated time):
event loop, scheduler, checker, accounting and the per-job Parquet table. Figures: wall seconds, events
per second, jobs per second, and the process's peak RSS (``ru_maxrss``).
"""

from __future__ import annotations

import math
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hexagrid import _native
from hexagrid.domain import CATALOG, REFERENCE_ACCELERATOR, Scenario, TenantClass
from hexagrid.energy.carbon import load_carbon
from hexagrid.scenarios import load_scenario
from hexagrid.simulation.driver import SimConfig
from hexagrid.simulation.fleetindex import date_to_posix_s
from hexagrid.simulation.run import simulate_policies
from hexagrid.workloads import JobTable, MappingRule, SyntheticMix, generate_synthetic, load_trace

__all__ = ["bench_simulate", "national_scenario", "reference_capacity_gpus", "sized_scenario"]

_MAX_GANG_GPUS = 64  # ITP's largest job


def reference_capacity_gpus(scenario: Scenario) -> float:
    """The fleet's GPUs in reference-accelerator equivalents (sum of GPUs x relative training throughput)."""
    ref = CATALOG[REFERENCE_ACCELERATOR].training_throughput
    return sum(p.gpus * CATALOG[p.accelerator].training_throughput / ref for s in scenario.sites for p in s.pools)


def _scaled(scenario: Scenario, factor: float) -> Scenario:
    """Every pool's nodes x ``factor`` (at least one node); for each tenant class, the largest pool of the
    largest always-open site of the highest sovereignty tier open to it keeps room for a 64-GPU gang (a
    site of the highest tier meets every lower requirement), so every trace job has somewhere to run."""
    gang_pools: set[tuple[str, str]] = set()
    for cls in (TenantClass.ACADEMIC, TenantClass.COMMERCIAL):
        sites = [s for s in scenario.sites if s.access.admits(cls) and s.availability is None]
        if sites:
            big = max(sites, key=lambda s: (s.tier.rank, s.gpus))
            pool = max(big.pools, key=lambda p: p.gpus)
            gang_pools.add((big.id, pool.id))
    sites = []
    for s in scenario.sites:
        pools = []
        for p in s.pools:
            nodes = max(1, round(p.nodes * factor))
            if (s.id, p.id) in gang_pools:
                nodes = max(nodes, math.ceil(_MAX_GANG_GPUS / p.gpus_per_node))
            pools.append(p.model_copy(update={"nodes": min(nodes, p.nodes)}))
        gpus = sum(p.gpus for p in pools)
        sites.append(s.model_copy(update={"pools": pools, "power_mw": round(s.power_mw * gpus / s.gpus, 4)}))
    return scenario.model_copy(update={"name": f"{scenario.name}-sized", "sites": sites})


def sized_scenario(scenario: Scenario, table: JobTable, target_utilisation: float = 0.6) -> Scenario:
    """``scenario`` with its pools scaled by one factor (bisected) so ``table`` offers about
    ``target_utilisation`` of the fleet's reference-accelerator capacity over the trace's span."""
    want = table.offered_load(1) / target_utilisation  # reference GPUs the trace needs at that utilisation
    lo, hi = 0.0, 1.0
    for _ in range(40):
        mid = (lo + hi) / 2
        if reference_capacity_gpus(_scaled(scenario, mid)) < want:
            lo = mid
        else:
            hi = mid
    return _scaled(scenario, hi)


def national_scenario(scenario: Scenario, busy_gpus: float, rule: MappingRule | None = None) -> Scenario:
    """``scenario`` with each tenant's ``max_gpus`` raised, where lower, to twice its share of a demand that
    keeps about ``busy_gpus`` GPUs busy (its share of jobs under ``rule``).

    The scenario's quotas are its named organisations'; the national bench's synthetic demand stands for
    a country's users drawn over those tenants, and a 256-GPU quota handed a weight's share of a million
    GPUs' work would queue it for ever, measuring the quota instead of the scheduler. Quotas still apply.
    """
    rule = rule or MappingRule()
    weights = rule.tenant_weights(scenario.tenants)
    weights = weights / max(float(weights.sum()), 1e-12)
    tenants = []
    for t, w in zip(scenario.tenants, weights.tolist(), strict=True):
        if t.max_gpus is not None:
            t = t.model_copy(update={"max_gpus": max(t.max_gpus, math.ceil(2.0 * w * busy_gpus))})
        tenants.append(t)
    return scenario.model_copy(update={"tenants": tenants})


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _run(
    scenario: Scenario,
    table: JobTable,
    policy: str,
    seed: int,
    config: SimConfig,
    progress: Callable[[str, int, int], None] | None,
    label: str,
) -> dict[str, Any]:
    carbon = load_carbon("builtin:2022")
    with tempfile.TemporaryDirectory(prefix="hexagrid-bench-") as tmp:
        t0 = time.perf_counter()
        out = simulate_policies(
            scenario,
            table,
            carbon=carbon,
            policies=[policy],
            seed=seed,
            config=config,
            out_dir=Path(tmp),
            report=False,
            progress=None if progress is None else (lambda _policy, done, total: progress(label, done, total)),
        )
        wall = time.perf_counter() - t0
    s = out.summary["policies"][policy]
    return {
        "wall_s": wall,
        "jobs": s["jobs"],
        "completed": s["completed"],
        "events": s["events"],
        "passes": s["scheduling_passes"],
        "violations": s["constraint_violations"],
        "utilisation": s["utilisation"],
        "gpus": out.summary["fleet"]["gpus"],
    }


def bench_simulate(
    *,
    national_jobs: int = 1_000_000,
    policy: str = "hexagrid",
    seed: int = 0,
    target_utilisation: float = 0.6,
    itp: bool = True,
    national: bool = True,
    pass_interval_s: float = 60.0,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Run (a) and (b); return the figures (the ``--json`` keys plus detail). ``progress(run, done,
    total)`` is called as jobs finish, ``run`` being ``"itp"`` or ``"national"``."""
    out: dict[str, Any] = {
        "policy": policy,
        "seed": seed,
        "pass_interval_s": pass_interval_s,
        "compiled": _native.status().compiled,  # which build made the figures (hexagrid._native)
    }
    if itp:
        base = load_scenario("france-2026")
        trace = load_trace("itp")
        scen = sized_scenario(base, trace, target_utilisation)
        table = MappingRule().apply_scenario(trace, scen, seed)
        cfg = SimConfig(seed=seed, min_pass_interval_s=pass_interval_s)
        r = _run(scen, table, policy, seed, cfg, progress, "itp")
        out.update(
            {
                "itp_wall_s": round(r["wall_s"], 3),
                "itp_jobs": r["jobs"],
                "itp_completed": r["completed"],
                "itp_gpus": r["gpus"],
                "itp_events": r["events"],
                "itp_passes": r["passes"],
                "itp_events_per_s": round(r["events"] / r["wall_s"], 1),
                "itp_jobs_per_s": round(r["jobs"] / r["wall_s"], 1),
                "itp_utilisation": r["utilisation"],
                "itp_violations": r["violations"],
            }
        )
    if national:
        scen = load_scenario("france-2028")
        start_s = date_to_posix_s(scen.defaults.start_date)
        horizon_s = SyntheticMix().horizon_for_load(
            national_jobs, round(reference_capacity_gpus(scen)), target_utilisation
        )
        scen = national_scenario(scen, target_utilisation * sum(s.gpus for s in scen.sites))
        table = MappingRule().apply_scenario(
            generate_synthetic(national_jobs, seed, start_s, max(horizon_s, 3600.0)), scen, seed
        )
        cfg = SimConfig(seed=seed, min_pass_interval_s=pass_interval_s)
        r = _run(scen, table, policy, seed, cfg, progress, "national")
        out.update(
            {
                "national_wall_s": round(r["wall_s"], 3),
                "national_jobs": r["jobs"],
                "national_completed": r["completed"],
                "national_gpus": r["gpus"],
                "national_events": r["events"],
                "national_passes": r["passes"],
                "national_horizon_h": round(horizon_s / 3600.0, 2),
                "national_events_per_s": round(r["events"] / r["wall_s"], 1),
                "national_jobs_per_s": round(r["jobs"] / r["wall_s"], 1),
                "national_utilisation": r["utilisation"],
                "national_violations": r["violations"],
            }
        )
    out["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    return out
