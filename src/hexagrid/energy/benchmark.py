"""Timings of the energy layer's hot paths, as ``hexagrid bench energy`` prints them.

Inputs are the packaged 2022 data and seeded random jobs, so two runs measure the same work.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from hexagrid.energy.accounting import account_jobs
from hexagrid.energy.calendar import CalendarMapping
from hexagrid.energy.carbon import _load_builtin, load_carbon
from hexagrid.energy.forecast import NoisyForecast, PerfectForecast, PersistenceForecast
from hexagrid.energy.oracle import OracleJob, carbon_lower_bound
from hexagrid.energy.potential import potential_for_trace

__all__ = ["run_energy_bench"]


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def run_energy_bench(
    jobs: int = 1_000_000,
    forecast_calls: int = 20_000,
    oracle_jobs: int = 200,
    seed: int = 0,
    step: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Measure loading, potential (all zones), vectorised accounting, forecasts and the LP bound."""
    say = step or (lambda _msg: None)
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {}

    say("load builtin:2022")
    _load_builtin.cache_clear()
    out["load_builtin_s"], trace = _timed(lambda: load_carbon("builtin:2022"))
    out["zones"], out["hours"] = len(trace.zones), trace.hours

    say("potential, every zone, L in {1, 24}, S in {24, 168}")
    pot: dict[str, Any] = {}
    total = 0.0
    for L in (1, 24):
        for S in (24, 168):
            t0 = time.perf_counter()
            res = potential_for_trace(trace, L, S)
            dt = time.perf_counter() - t0
            total += dt
            pot[f"L{L}_S{S}"] = {
                "seconds": dt,
                **{
                    r.zone: [round(r.noninterruptible_pct, 2), round(r.interruptible_pct, 2)]
                    for r in res
                    if r.zone in ("FR", "DE", "GB", "ES", "PL", "SE-SE3")
                },
            }
    out["potential"] = pot
    out["potential_all_zones_4_settings_s"] = total

    say(f"account {jobs:,} jobs")
    cal = CalendarMapping.for_trace(trace, trace.start)
    start = trace.start_s + rng.uniform(0, 8760 * 3600.0 * 1.2, jobs)  # 20% of jobs past the data's end: wraps
    end = start + rng.exponential(6 * 3600.0, jobs)
    args = dict(
        it_power_w=rng.uniform(500, 80_000, jobs),
        pue=rng.uniform(1.1, 1.6, jobs),
        start_s=start,
        end_s=end,
        zone_index=rng.integers(0, len(trace.zones), jobs),
        carbon=trace,
        calendar=cal,
        gpus=rng.integers(1, 64, jobs),
        price_eur_per_gpu_h=2.5,
        heat_reuse_fraction=0.3,
        energy_price_eur_per_mwh=np.where(rng.random(jobs) < 0.5, 70.0, np.nan),
    )
    out["account_jobs"] = jobs
    out["account_jobs_s"], _ = _timed(lambda: account_jobs(**args))

    say(f"forecasts, {forecast_calls:,} calls of 48 h each")
    for name, sig in (
        ("perfect", PerfectForecast(trace)),
        ("persistence", PersistenceForecast(trace)),
        ("noisy", NoisyForecast(trace, mape=0.1, seed=seed)),
    ):
        ts = trace.start_s + rng.uniform(0, 8760 * 3600.0, forecast_calls)
        zs = [trace.zones[i] for i in rng.integers(0, len(trace.zones), forecast_calls)]

        def calls(sig: Any = sig, ts: Any = ts, zs: list[str] = zs) -> None:
            for z, t in zip(zs, ts, strict=True):
                sig.forecast_g_per_kwh(z, float(t), 48)

        dt, _ = _timed(calls)
        out[f"forecast_{name}_us_per_call"] = dt / forecast_calls * 1e6

    say(f"LP bound, {oracle_jobs} jobs x 4 sites x 96 hours")
    n_sites, n_hours = 4, 96
    zones = [trace.zone_index(z) for z in ("FR", "DE", "SE-SE3", "PL")]
    inten = trace.values[zones, 2000 : 2000 + n_hours]
    cap = np.full((n_sites, n_hours), 256.0)
    jl = []
    for _ in range(oracle_jobs):
        r = float(rng.uniform(0, 60))
        d = float(rng.uniform(1, 12))
        jl.append(OracleJob(r, min(n_hours, r + d + float(rng.uniform(0, 24))), int(rng.integers(1, 16)), d))
    dt, res = _timed(lambda: carbon_lower_bound(jl, cap, inten, np.full(n_sites, 0.9)))
    out["oracle_s"], out["oracle_variables"], out["oracle_constraints"] = dt, res.variables, res.constraints
    out["oracle_bound_kg"] = res.bound_g / 1000
    return out
