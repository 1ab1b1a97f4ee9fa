"""Metrics of a run: per-job rows, per-site hourly series and a summary, all computed vectorised at the end.

Everything is derived from the driver's run segments (job, pool, start, end, GPUs): a segment draws the
shared power model's watts (:mod:`hexagrid.energy.power`: GPU at the job kind's default utilisation plus
its share of node overhead, facility = IT x PUE) for its whole length. Energy, carbon, cost and heat come
from :func:`hexagrid.energy.accounting.account_jobs` (carbon integrates the site zone's hourly intensity
over the segment, with the explicit wrap-around of :class:`hexagrid.energy.calendar.CalendarMapping`;
cost is GPU-hours x the site's price plus its energy bill where it pays its own power; heat reused is IT
energy x the site's heat-reuse fraction); the simulator sums segments per job and per site-hour.

Per-job rows go to Parquet in row groups of :data:`ROW_GROUP` rows, from numpy columns (never one Python
object per row), so a million-job run writes in a few seconds with bounded extra memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from hexagrid.energy.accounting import account_jobs
from hexagrid.energy.calendar import CalendarMapping
from hexagrid.energy.carbon import CarbonTrace
from hexagrid.simulation.driver import RunResult
from hexagrid.simulation.fleetindex import KIND_CODES, FleetIndex

__all__ = [
    "ROW_GROUP",
    "Accounting",
    "account",
    "same_outcome_note",
    "site_series",
    "summarise",
    "write_jobs_parquet",
    "write_sites_parquet",
]

ROW_GROUP = 65_536
_KIND_NAMES = [k.value for k in KIND_CODES]
_SLOWDOWN_FLOOR_S = 10.0  # bounded slowdown: runs shorter than this count as this long


@dataclass
class Accounting:
    """Per-segment and per-job energy (kWh), carbon (g), cost (EUR) and heat reused (kWh)."""

    seg_it_w: npt.NDArray[np.float64]
    seg_facility_w: npt.NDArray[np.float64]
    seg_carbon_g: npt.NDArray[np.float64]
    job_it_kwh: npt.NDArray[np.float64]
    job_facility_kwh: npt.NDArray[np.float64]
    job_carbon_g: npt.NDArray[np.float64]
    job_cost_eur: npt.NDArray[np.float64]
    job_heat_kwh: npt.NDArray[np.float64]
    zone_rows: npt.NDArray[np.int64]  # per site: row of its grid zone in the carbon trace


def zone_rows_for(index: FleetIndex, trace: CarbonTrace) -> npt.NDArray[np.int64]:
    return np.asarray([trace.zone_index(s.grid_zone) for s in index.sites], dtype=np.int64)


def account(res: RunResult, index: FleetIndex, trace: CarbonTrace, mapping: CalendarMapping) -> Accounting:
    """Energy, carbon, cost and heat for every segment (energy's ``account_jobs``), summed per job."""
    pool = res.seg_pool
    site = index.pool_site[pool]
    kind = res.kind[res.seg_job].astype(np.int64) if len(res.seg_job) else np.zeros(0, dtype=np.int64)
    it_w = res.seg_gpus * index.pool_it_w_per_gpu[pool, kind]
    zone_rows = zone_rows_for(index, trace)
    u = account_jobs(
        it_power_w=it_w,
        pue=index.site_pue[site],
        start_s=res.seg_start_s,
        end_s=res.seg_end_s,
        zone_index=zone_rows[site],
        carbon=trace,
        calendar=mapping,
        gpus=res.seg_gpus,
        price_eur_per_gpu_h=index.pool_price_eur_per_gpu_h[pool],
        heat_reuse_fraction=index.site_heat_reuse[site],
        energy_price_eur_per_mwh=index.site_energy_price_eur_per_mwh[site],
    )
    n = res.n_jobs
    j = res.seg_job

    def per_job(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.bincount(j, x, minlength=n).astype(np.float64)

    return Accounting(
        seg_it_w=it_w,
        seg_facility_w=it_w * index.site_pue[site],
        seg_carbon_g=u.carbon_g,
        job_it_kwh=per_job(u.it_kwh),
        job_facility_kwh=per_job(u.facility_kwh),
        job_carbon_g=per_job(u.carbon_g),
        job_cost_eur=per_job(u.cost_eur),
        job_heat_kwh=per_job(u.heat_reused_kwh),
        zone_rows=zone_rows,
    )


def _hourly_bins(
    site: npt.NDArray[np.int64],
    a_h: npt.NDArray[np.float64],
    b_h: npt.NDArray[np.float64],
    value: npt.NDArray[np.float64],
    n_sites: int,
    n_hours: int,
) -> npt.NDArray[np.float64]:
    """Mean over each hour of a sum of step functions ``value`` on ``[a_h, b_h)`` (in hours), per site."""
    out = np.zeros((n_sites, n_hours + 1))
    diff = np.zeros((n_sites, n_hours + 2))
    ha = np.floor(a_h).astype(np.int64)
    hb = np.floor(b_h).astype(np.int64)
    same = ha == hb
    np.add.at(out, (site[same], ha[same]), value[same] * (b_h[same] - a_h[same]))
    d = ~same
    s, ha_d, hb_d, v = site[d], ha[d], hb[d], value[d]
    np.add.at(out, (s, ha_d), v * (ha_d + 1 - a_h[d]))
    np.add.at(out, (s, hb_d), v * (b_h[d] - hb_d))
    np.add.at(diff, (s, ha_d + 1), v)
    np.add.at(diff, (s, hb_d), -v)
    out += np.cumsum(diff, axis=1)[:, : n_hours + 1]
    return out[:, :n_hours]


def site_series(
    res: RunResult, index: FleetIndex, acc: Accounting, trace: CarbonTrace, mapping: CalendarMapping
) -> dict[str, npt.NDArray[Any]]:
    """Hourly means per site from the run start: busy GPUs, IT and facility watts, carbon rate, grid intensity."""
    n_hours = max(1, int(np.ceil((res.end_s - res.start_s) / 3600.0)))
    site = index.pool_site[res.seg_pool]
    a_h = (res.seg_start_s - res.start_s) / 3600.0
    b_h = (res.seg_end_s - res.start_s) / 3600.0
    ns = len(index.sites)
    busy = _hourly_bins(site, a_h, b_h, res.seg_gpus.astype(np.float64), ns, n_hours)
    it_w = _hourly_bins(site, a_h, b_h, acc.seg_it_w, ns, n_hours)
    fac_w = _hourly_bins(site, a_h, b_h, acc.seg_facility_w, ns, n_hours)
    hours_t = res.start_s + 3600.0 * np.arange(n_hours)
    hidx = mapping.hour_indices(hours_t + 1800.0)  # the data hour holding each hour's middle
    intensity = trace.values[acc.zone_rows][:, hidx]
    return {
        "time_s": hours_t,
        "busy_gpus": busy,
        "it_power_w": it_w,
        "facility_power_w": fac_w,
        "carbon_g_per_h": fac_w / 1000.0 * intensity,
        "intensity_g_per_kwh": intensity,
    }


def _pct(x: npt.NDArray[np.float64], q: float) -> float:
    return float(np.percentile(x, q)) if len(x) else 0.0


def summarise(
    res: RunResult, index: FleetIndex, acc: Accounting, oracle: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The summary of one policy's run (deterministic: no wall-clock figures in it)."""
    started = ~np.isnan(res.first_start_s)
    completed = ~np.isnan(res.end_time_s)
    wait = (res.first_start_s - res.submit_s)[started]
    comp = (res.end_time_s - res.submit_s)[completed]
    slow = comp / np.maximum(res.run_s[completed], _SLOWDOWN_FLOOR_S)
    span_s = max(res.end_s - res.start_s, 1.0)
    # capacity: each site's GPUs over the part of the run it was online
    on_a = np.maximum(index.site_online_from_s, res.start_s)
    on_b = np.minimum(index.site_online_until_s, res.end_s)
    cap_gpu_s = float(np.sum(index.site_gpus * np.clip(on_b - on_a, 0.0, None)))
    busy_gpu_s = float(np.sum(res.seg_gpus * (res.seg_end_s - res.seg_start_s)))
    has_dl = ~np.isnan(res.deadline_s)
    missed = has_dl & (~completed | (res.end_time_s > res.deadline_s + 1e-6))
    per_site_gpu_h = (
        np.bincount(
            index.pool_site[res.seg_pool], res.seg_gpus * (res.seg_end_s - res.seg_start_s), minlength=len(index.sites)
        )
        / 3600.0
    )
    v = res.violations
    out: dict[str, Any] = {
        "jobs": int(res.n_jobs),
        "completed": int(completed.sum()),
        "unfinished": int(res.n_jobs - completed.sum()),
        "constraint_violations": int(v["total"]),
        "violations_by_rule": v["by_rule"],
        "utilisation": round(busy_gpu_s / cap_gpu_s, 6) if cap_gpu_s > 0 else 0.0,
        "makespan_s": round(span_s, 3),
        "mean_wait_s": round(float(wait.mean()) if len(wait) else 0.0, 3),
        "p50_wait_s": round(_pct(wait, 50), 3),
        "p95_wait_s": round(_pct(wait, 95), 3),
        "p99_wait_s": round(_pct(wait, 99), 3),
        "mean_completion_s": round(float(comp.mean()) if len(comp) else 0.0, 3),
        "p50_completion_s": round(_pct(comp, 50), 3),
        "p95_completion_s": round(_pct(comp, 95), 3),
        "p99_completion_s": round(_pct(comp, 99), 3),
        "mean_bounded_slowdown": round(float(slow.mean()) if len(slow) else 0.0, 4),
        "gpu_hours": round(busy_gpu_s / 3600.0, 3),
        "it_energy_mwh": round(float(acc.job_it_kwh.sum()) / 1000.0, 6),
        "energy_mwh": round(float(acc.job_facility_kwh.sum()) / 1000.0, 6),
        "tco2": round(float(acc.job_carbon_g.sum()) / 1e6, 6),
        "cost_eur": round(float(acc.job_cost_eur.sum()), 2),
        "heat_reused_mwh": round(float(acc.job_heat_kwh.sum()) / 1000.0, 6),
        "deadline_jobs": int(has_dl.sum()),
        "deadline_misses": int(missed.sum()),
        "preemptions": int(res.preemptions.sum()),
        "failures": int(res.failures.sum()),
        "events": int(res.events),
        "scheduling_passes": int(res.passes),
        "decisions": dict(res.decisions),
        "peak_facility_mw_by_site": {
            sid: round(float(res.site_peak_facility_w[i]) / 1e6, 4)
            for i, sid in enumerate(index.site_ids)
            if res.site_peak_facility_w[i] > 0
        },
        "gpu_hours_by_site": {
            sid: round(float(per_site_gpu_h[i]), 2) for i, sid in enumerate(index.site_ids) if per_site_gpu_h[i] > 0
        },
        "violation_examples": v["examples"],
    }
    if oracle is not None:
        out["carbon_oracle"] = oracle
    return out


#: the outcome figures two policies must share to be reported as giving the same results
_OUTCOME_KEYS = (
    "completed",
    "mean_wait_s",
    "p99_wait_s",
    "mean_completion_s",
    "energy_mwh",
    "tco2",
    "cost_eur",
    "deadline_misses",
    "preemptions",
)


def same_outcome_note(summary: dict[str, Any]) -> str | None:
    """A sentence for readers of a comparison in which some policies gave identical results, or None.

    On a fleet far larger than its trace (the default: france-2026 replaying one cluster's trace) the first
    job in line is hardly ever blocked for capacity, so FIFO and backfill, which differ only there, come out
    the same; a reader seeing two identical columns should be told that this is not a fault.
    """
    pols: dict[str, dict[str, Any]] = summary["policies"]
    groups: dict[tuple[object, ...], list[str]] = {}
    for name, s in pols.items():
        groups.setdefault(tuple(s.get(k) for k in _OUTCOME_KEYS), []).append(name)
    same = [names for names in groups.values() if len(names) > 1]
    if not same:
        return None
    names = same[0]
    s = pols[names[0]]
    listed = ", ".join(names[:-1]) + f" and {names[-1]}"
    load = f"{s['utilisation']:.1%} utilisation, p99 wait {s['p99_wait_s']:,.0f} s"
    if sorted(names) != ["backfill", "fifo"]:
        return f"{listed} gave identical results (waits, energy, carbon and cost) on this run ({load})."
    return (
        f"{listed} gave identical results (waits, energy, carbon and cost). Backfill departs from FIFO only "
        "when the first job in line is blocked for capacity or power and a later job can start without delaying "
        f"it; on this fleet ({load}) that never changed an outcome."
    )


def write_jobs_parquet(path: Path, res: RunResult, index: FleetIndex, acc: Accounting) -> None:
    """One row per job, in arrival order, written in row groups from numpy columns."""
    site_names = np.asarray([*index.site_ids, ""], dtype=object)
    pool_names = np.asarray([*(p for _s, p in index.pool_keys), ""], dtype=object)
    acc_names = np.asarray([*index.pool_accelerator, ""], dtype=object)
    tenant_names = np.asarray([*res.tenant_ids, ""], dtype=object)
    kind_names = np.asarray(_KIND_NAMES, dtype=object)
    ids = np.asarray(res.job_ids, dtype=object)
    schema = pa.schema(
        [
            ("job_id", pa.string()),
            ("tenant", pa.string()),
            ("kind", pa.string()),
            ("gpus", pa.int32()),
            ("submit_s", pa.float64()),
            ("start_s", pa.float64()),
            ("end_s", pa.float64()),
            ("wait_s", pa.float64()),
            ("completion_s", pa.float64()),
            ("run_s", pa.float64()),
            ("bounded_slowdown", pa.float64()),
            ("site", pa.string()),
            ("pool", pa.string()),
            ("accelerator", pa.string()),
            ("it_energy_kwh", pa.float64()),
            ("energy_kwh", pa.float64()),
            ("carbon_g", pa.float64()),
            ("cost_eur", pa.float64()),
            ("heat_reused_kwh", pa.float64()),
            ("preemptions", pa.int32()),
            ("failures", pa.int32()),
            ("deadline_s", pa.float64()),
            ("deadline_met", pa.bool_()),
            ("completed", pa.bool_()),
        ]
    )
    with pq.ParquetWriter(path, schema, compression="zstd", write_statistics=False) as w:
        for a in range(0, max(res.n_jobs, 1), ROW_GROUP):
            s = slice(a, min(a + ROW_GROUP, res.n_jobs))
            start, end, sub = res.first_start_s[s], res.end_time_s[s], res.submit_s[s]
            done = ~np.isnan(end)
            comp = end - sub
            lp = res.last_pool[s].astype(np.int64)
            lp_site = np.where(lp >= 0, index.pool_site[np.maximum(lp, 0)], len(index.sites))
            lp_pool = np.where(lp >= 0, lp, len(index.pool_keys))
            dl = res.deadline_s[s]
            dl_met = np.where(np.isnan(dl), True, done & (end <= dl + 1e-6))
            tcode = np.where(res.tenant[s] >= 0, res.tenant[s], len(res.tenant_ids))
            cols = [
                pa.array(ids[s], pa.string()),
                pa.array(tenant_names[tcode], pa.string()),
                pa.array(kind_names[res.kind[s]], pa.string()),
                pa.array(res.gpus[s], pa.int32()),
                pa.array(sub),
                pa.array(start, from_pandas=True),
                pa.array(end, from_pandas=True),
                pa.array(start - sub, from_pandas=True),
                pa.array(comp, from_pandas=True),
                pa.array(res.run_s[s]),
                pa.array(np.where(done, comp / np.maximum(res.run_s[s], _SLOWDOWN_FLOOR_S), np.nan), from_pandas=True),
                pa.array(site_names[lp_site], pa.string()),
                pa.array(pool_names[lp_pool], pa.string()),
                pa.array(acc_names[lp_pool], pa.string()),
                pa.array(acc.job_it_kwh[s]),
                pa.array(acc.job_facility_kwh[s]),
                pa.array(acc.job_carbon_g[s]),
                pa.array(acc.job_cost_eur[s]),
                pa.array(acc.job_heat_kwh[s]),
                pa.array(res.preemptions[s], pa.int32()),
                pa.array(res.failures[s], pa.int32()),
                pa.array(dl, from_pandas=True),
                pa.array(dl_met.astype(bool)),
                pa.array(done),
            ]
            w.write_table(pa.Table.from_arrays(cols, schema=schema), row_group_size=ROW_GROUP)


def write_sites_parquet(path: Path, series: dict[str, npt.NDArray[Any]], index: FleetIndex) -> None:
    """Per-site hourly series in long form: one row per (site, hour)."""
    ns, nh = series["busy_gpus"].shape
    site_col = np.repeat(np.asarray(index.site_ids, dtype=object), nh)
    table = pa.table(
        {
            "site": pa.array(site_col, pa.string()),
            "time_s": pa.array(np.tile(series["time_s"], ns)),
            "busy_gpus": pa.array(series["busy_gpus"].ravel()),
            "gpus": pa.array(np.repeat(index.site_gpus, nh).astype(np.int64)),
            "it_power_w": pa.array(series["it_power_w"].ravel()),
            "facility_power_w": pa.array(series["facility_power_w"].ravel()),
            "envelope_w": pa.array(np.repeat(index.site_envelope_w, nh)),
            "carbon_g_per_h": pa.array(series["carbon_g_per_h"].ravel()),
            "intensity_g_per_kwh": pa.array(series["intensity_g_per_kwh"].ravel()),
        }
    )
    pq.write_table(table, path, compression="zstd", write_statistics=False)
