"""One simulation run: a scenario, a workload and several policies on identical inputs, to files and a report.

Every policy sees the same jobs (one mapped :class:`~hexagrid.workloads.JobTable`), the same carbon
signals (same data, forecast and seed) and the same fleet; they run one after the other. Outputs are
deterministic (same inputs and seed -> byte-identical files): ``summary.json``, ``jobs-<policy>.parquet``,
``sites-<policy>.parquet`` and ``report.html``.
"""

from __future__ import annotations

import json
import math
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from hexagrid.domain import Scenario
from hexagrid.energy.calendar import CalendarMapping
from hexagrid.energy.carbon import CarbonTrace
from hexagrid.energy.forecast import make_signals
from hexagrid.energy.oracle import oracle_instance
from hexagrid.errors import InfeasibleError, InputError
from hexagrid.simulation.driver import RunResult, SimConfig, Simulator
from hexagrid.simulation.fleetindex import FleetIndex, date_to_posix_s
from hexagrid.simulation.metrics import (
    Accounting,
    account,
    site_series,
    summarise,
    write_jobs_parquet,
    write_sites_parquet,
)
from hexagrid.workloads import JobTable

__all__ = ["DEFAULT_POLICIES", "PolicyRun", "SimulationOutput", "policy_names", "simulate_policies"]

DEFAULT_POLICIES: tuple[str, ...] = ("fifo", "backfill", "hexagrid")


def policy_names() -> list[str]:
    """The scheduler presets a run may name."""
    from hexagrid.scheduling import SchedulerConfig

    return list(SchedulerConfig.preset_names())


@dataclass
class PolicyRun:
    """One policy's result, kept in memory for the report."""

    name: str
    result: RunResult
    accounting: Accounting
    series: dict[str, Any]
    summary: dict[str, Any]


@dataclass
class SimulationOutput:
    summary: dict[str, Any]
    runs: list[PolicyRun] = field(default_factory=list)
    out_dir: Path | None = None
    report_path: Path | None = None


def oracle_gap(
    run: RunResult,
    acc: Accounting,
    scenario: Scenario,
    table: JobTable,
    carbon: CarbonTrace,
    mapping: CalendarMapping,
    start_s: float,
    sample: int,
) -> dict[str, Any] | None:
    """Carbon of the first ``sample`` completed jobs against the LP lower bound (energy's oracle) for them.

    Each job's window runs from its submission to its deadline or, if later, to when it really ended in
    this run, so the bound says how much cleaner the same jobs could have run without finishing later.
    The sample keeps the LP small (jobs x sites x hours variables); the whole fleet's capacity is offered
    to the sample, which only loosens the bound. None when no job completed.
    """
    done = np.flatnonzero(~np.isnan(run.end_time_s[: min(len(table), run.n_jobs)]))[:sample]
    if not len(done):
        return None
    specs = list(table.head(int(done[-1]) + 1).iter_jobspecs(start_s))
    jobs = [specs[int(i)] for i in done]
    hour0 = math.floor(start_s / 3600.0) * 3600.0
    hours = math.ceil((float(run.end_time_s[done].max()) - hour0) / 3600.0) + 1
    inst = oracle_instance(
        jobs, scenario.fleet, carbon, mapping, hour0, hours, window_end_s=[float(run.end_time_s[i]) for i in done]
    )
    try:
        res = inst.solve(time_limit_s=60.0, presolve=False)  # a small LP: presolve cost 4x the solve
    except InfeasibleError as exc:
        return {"jobs": len(jobs), "status": "infeasible", "note": str(exc)}
    sim_g = float(acc.job_carbon_g[done].sum())
    return {
        "jobs": len(jobs),
        "status": res.status,
        "bound_tco2": round(res.bound_g / 1e6, 6),
        "schedule_tco2": round(sim_g / 1e6, 6),
        "gap_pct": round(res.gap_pct(sim_g), 3),
        "hours": hours,
        "variables": res.variables,
    }


def simulate_policies(
    scenario: Scenario,
    table: JobTable,
    *,
    carbon: CarbonTrace,
    policies: Sequence[str] = DEFAULT_POLICIES,
    seed: int = 0,
    forecast: str = "perfect",
    config: SimConfig | None = None,
    out_dir: Path | None = None,
    report: bool = True,
    oracle_jobs: int = 100,
    trace_label: str = "",
    progress: Callable[[str, int, int], None] | None = None,
    workers: int = 1,
) -> SimulationOutput:
    """Run each policy on ``table`` (already mapped) over ``scenario``; write outputs to ``out_dir`` if given.

    ``progress(policy, jobs_done, jobs_total)`` is called as jobs finish. ``oracle_jobs`` completed jobs
    (the first ones) are compared with energy's carbon lower bound (0 = skip; see :func:`oracle_gap`).
    ``workers`` > 1 runs policies in parallel processes; the outputs are the same bytes either way.
    """
    known = policy_names()
    for p in policies:
        if p not in known:
            raise InputError(f"policy {p!r} is unknown; policies: {', '.join(known)}")
    if len(set(policies)) != len(policies):
        raise InputError(f"policies repeat: {', '.join(policies)}")
    cfg = config or SimConfig(seed=seed)
    start_date = scenario.defaults.start_date
    start_s = date_to_posix_s(start_date)
    zones = sorted({s.grid_zone for s in scenario.sites})
    for z in zones:
        carbon.zone_index(z)  # NotFound names the zones the data holds
    mapping = CalendarMapping.for_trace(carbon, start_date)
    index = FleetIndex.build(scenario.fleet)
    n = len(table)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)

    args = (scenario, table, carbon, seed, forecast, cfg, out_dir, oracle_jobs)
    runs: list[PolicyRun] = []
    workers = max(1, min(workers, len(policies)))
    if workers == 1:
        for name in policies:
            runs.append(_run_policy(name, *args, progress=progress))
    else:
        # each policy in its own process (spawned: no forked locks); results come back in policy order
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(queue,)
        ) as pool:
            futures = [pool.submit(_run_policy_in_worker, name, *args) for name in policies]
            while not all(f.done() for f in futures):
                _drain(queue, progress, n, timeout_s=0.2)
            _drain(queue, progress, n, timeout_s=0.0)
            runs = [f.result() for f in futures]

    end_s = max((r.result.end_s for r in runs), default=start_s)
    summary: dict[str, Any] = {
        "scenario": scenario.name,
        "trace": trace_label or table.name,
        "jobs": n,
        "seed": seed,
        "start": datetime.fromtimestamp(start_s, UTC).isoformat(),
        "fleet": {
            "sites": len(scenario.sites),
            "gpus": scenario.fleet.gpus,
            "power_mw": round(scenario.fleet.power_mw, 3),
        },
        "carbon": {
            "source": carbon.source,
            "forecast": forecast,
            "mapping": mapping.describe(start_s, end_s),
            "wraps": mapping.wraps(start_s, end_s),
        },
        "config": {
            "tick_s": cfg.tick_s,
            "pass_interval_s": cfg.min_pass_interval_s,
            "restart_cost_s": cfg.restart_cost_s,
            "failure_rate_per_gpu_h": cfg.failure_rate_per_gpu_h,
            "horizon_s": cfg.horizon_s,
        },
        "policies": {r.name: r.summary for r in runs},
    }
    out = SimulationOutput(summary, runs, out_dir)
    if out_dir is not None:
        (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        if report:
            from hexagrid.simulation.report import write_report

            out.report_path = write_report(out_dir / "report.html", scenario, index, runs, summary)
    return out


def _run_policy(
    name: str,
    scenario: Scenario,
    table: JobTable,
    carbon: CarbonTrace,
    seed: int,
    forecast: str,
    cfg: SimConfig,
    out_dir: Path | None,
    oracle_jobs: int,
    progress: Callable[[str, int, int], None] | None = None,
) -> PolicyRun:
    """One policy end to end: replay, account, summarise, write its Parquet tables."""
    from hexagrid.scheduling import ClusterState, Scheduler, SchedulerConfig

    start_date = scenario.defaults.start_date
    start_s = date_to_posix_s(start_date)
    mapping = CalendarMapping.for_trace(carbon, start_date)
    index = FleetIndex.build(scenario.fleet)
    tenants = list(scenario.tenants)
    fleet = scenario.fleet
    n = len(table)
    signals = make_signals(forecast, carbon, anchor=start_date, seed=seed)  # type: ignore[arg-type]
    scheduler = Scheduler(SchedulerConfig.preset(name))

    def tick(done: int) -> None:
        if progress is not None:
            progress(name, done, n)

    sim = Simulator(
        index=index,
        tenants=tenants,
        state_factory=lambda: ClusterState.from_fleet(fleet, tenants),
        decide=scheduler.decide,
        signals=signals,
        start_s=start_s,
        config=cfg,
        progress=tick,
    )
    res = sim.run(n, table.iter_jobspecs(start_s))
    acc = account(res, index, carbon, mapping)
    series = site_series(res, index, acc, carbon, mapping)
    oracle = oracle_gap(res, acc, scenario, table, carbon, mapping, start_s, oracle_jobs) if oracle_jobs else None
    summ = summarise(res, index, acc, oracle)
    if out_dir is not None:
        write_jobs_parquet(out_dir / f"jobs-{name}.parquet", res, index, acc)
        write_sites_parquet(out_dir / f"sites-{name}.parquet", series, index)
    return PolicyRun(name, res, acc, series, summ)


_QUEUE: Any = None


def _init_worker(queue: Any) -> None:
    global _QUEUE
    _QUEUE = queue


def _run_policy_in_worker(
    name: str,
    scenario: Scenario,
    table: JobTable,
    carbon: CarbonTrace,
    seed: int,
    forecast: str,
    cfg: SimConfig,
    out_dir: Path | None,
    oracle_jobs: int,
) -> PolicyRun:
    def report(policy: str, done: int, total: int) -> None:
        if _QUEUE is not None:
            _QUEUE.put((policy, done))

    return _run_policy(name, scenario, table, carbon, seed, forecast, cfg, out_dir, oracle_jobs, progress=report)


def _drain(queue: Any, progress: Callable[[str, int, int], None] | None, n: int, timeout_s: float) -> None:
    """Pass progress messages from worker processes on to ``progress``."""
    import queue as queue_mod

    try:
        while True:
            name, done = queue.get(timeout=timeout_s) if timeout_s else queue.get_nowait()
            if progress is not None:
                progress(name, done, n)
            timeout_s = 0.0
    except queue_mod.Empty:
        return
