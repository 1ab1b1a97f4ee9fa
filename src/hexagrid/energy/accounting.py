"""Per-job usage: energy, carbon, recovered heat and cost; and aggregates per site, tenant or project.

For a job drawing ``it_power_w`` on a site with ``pue`` in grid zone ``zone`` from ``start_s`` to ``end_s``:

* IT energy ``it_kwh = it_power_w / 1000 x hours``; facility energy ``facility_kwh = it_kwh x pue``;
* carbon (location-based) ``carbon_g = facility_power_kw x integral of intensity over [start, end]``: each
  hour's facility energy times that hour's intensity of the site's zone, partial hours pro rata;
* recovered heat ``heat_reused_kwh = it_kwh x heat_reuse_fraction`` (the heat that leaves the IT
  equipment, of which the site's heat network takes that fraction);
* cost ``cost_eur = gpu_cost_eur + energy_cost_eur`` with ``gpu_cost_eur = gpus x hours x
  price_eur_per_gpu_h`` and ``energy_cost_eur = facility_kwh / 1000 x energy_price_eur_per_mwh`` where the
  site pays its own power (the site's ``energy_price_eur_per_mwh`` is set), else 0.

The integral uses running sums of the hourly series, so each job costs O(1) however long it runs:
:func:`account_jobs` accounts a million jobs in well under a second. Wrap-around past the end of the
data follows :class:`~hexagrid.energy.calendar.CalendarMapping` (each full pass adds the year's total).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from hexagrid.energy.calendar import CalendarMapping
from hexagrid.energy.carbon import CarbonTrace
from hexagrid.errors import InputError

__all__ = [
    "JobUsage",
    "UsageArrays",
    "account_job",
    "account_jobs",
    "aggregate_usage",
    "heat_reused_mwh",
    "intensity_integral",
    "site_draw_w",
]

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class JobUsage:
    """What one job (or a group of jobs) used. Energies in kWh, carbon in grams, money in EUR."""

    gpu_hours: float
    it_kwh: float
    facility_kwh: float
    carbon_g: float
    heat_reused_kwh: float
    gpu_cost_eur: float
    energy_cost_eur: float

    @property
    def cost_eur(self) -> float:
        return self.gpu_cost_eur + self.energy_cost_eur

    @property
    def heat_reused_mwh(self) -> float:
        return self.heat_reused_kwh / 1000.0

    @property
    def mean_intensity_g_per_kwh(self) -> float:
        """Energy-weighted intensity of the grid the job ran on (0 if it used no energy)."""
        return self.carbon_g / self.facility_kwh if self.facility_kwh > 0 else 0.0

    def as_dict(self) -> dict[str, float]:
        d = {f.name: float(getattr(self, f.name)) for f in fields(self)}
        d["cost_eur"] = self.cost_eur
        return d


@dataclass(frozen=True, slots=True)
class UsageArrays:
    """The vectorised form of :class:`JobUsage`: one entry per job, same units."""

    gpu_hours: F64
    it_kwh: F64
    facility_kwh: F64
    carbon_g: F64
    heat_reused_kwh: F64
    gpu_cost_eur: F64
    energy_cost_eur: F64

    @property
    def cost_eur(self) -> F64:
        return self.gpu_cost_eur + self.energy_cost_eur

    def __len__(self) -> int:
        return int(self.it_kwh.shape[0])

    def job(self, i: int) -> JobUsage:
        return JobUsage(*(float(getattr(self, f.name)[i]) for f in fields(self)))

    def total(self) -> JobUsage:
        return JobUsage(*(float(np.sum(getattr(self, f.name))) for f in fields(self)))


def intensity_integral(trace: CarbonTrace, rows: npt.ArrayLike, x0_h: npt.ArrayLike, x1_h: npt.ArrayLike) -> F64:
    """Integral of intensity (g/kWh x h) over data hours ``[x0_h, x1_h]`` (unwrapped, fractional) per row.

    Multiply by a constant power in kW to get grams. Past the data's end the series repeats (wrap-around).
    """
    c = trace.cumulative
    n = trace.hours
    r = np.asarray(rows, dtype=np.int64)

    def prim(x: F64) -> F64:
        passes = np.floor_divide(x, n)
        rem = x - passes * n
        k = np.minimum(np.floor(rem).astype(np.int64), n - 1)
        frac = rem - k
        return passes * c[r, n] + c[r, k] + frac * trace.values[r, k]

    return prim(np.asarray(x1_h, dtype=np.float64)) - prim(np.asarray(x0_h, dtype=np.float64))


def account_jobs(
    *,
    it_power_w: npt.ArrayLike,
    pue: npt.ArrayLike,
    start_s: npt.ArrayLike,
    end_s: npt.ArrayLike,
    zone_index: npt.ArrayLike,
    carbon: CarbonTrace,
    calendar: CalendarMapping | None = None,
    gpus: npt.ArrayLike,
    price_eur_per_gpu_h: npt.ArrayLike = 0.0,
    heat_reuse_fraction: npt.ArrayLike = 0.0,
    energy_price_eur_per_mwh: npt.ArrayLike = np.nan,
) -> UsageArrays:
    """Account many jobs at once (arrays broadcast; scalars apply to all).

    ``zone_index`` is the row of each job's zone in ``carbon`` (``carbon.zone_index(site.grid_zone)``);
    ``energy_price_eur_per_mwh`` is NaN where the site does not pay its own power. Times are POSIX seconds
    mapped onto the data by ``calendar`` (default: the data's own calendar).
    """
    cal = calendar if calendar is not None else CalendarMapping.for_trace(carbon)
    t0 = np.asarray(start_s, dtype=np.float64)
    t1 = np.asarray(end_s, dtype=np.float64)
    it_w, pue_a, gpus_a = (np.asarray(a, dtype=np.float64) for a in (it_power_w, pue, gpus))
    t0b, t1b = np.broadcast_arrays(t0, t1)
    bad = np.flatnonzero(np.ravel(t1b < t0b))
    if bad.size:
        i = int(bad[0])
        raise InputError(f"job {i}: end_s ({np.ravel(t1b)[i]}) is before start_s ({np.ravel(t0b)[i]})")
    if np.any(it_w < 0) or np.any(pue_a < 1.0) or np.any(gpus_a < 0):
        raise InputError("it_power_w and gpus must be >= 0 and pue >= 1")
    hrf = np.asarray(heat_reuse_fraction, dtype=np.float64)
    if np.any((hrf < 0) | (hrf > 1)):
        raise InputError("heat_reuse_fraction must be between 0 and 1")
    zi = np.asarray(zone_index, dtype=np.int64)
    if zi.size and (zi.min() < 0 or zi.max() >= len(carbon.zones)):
        raise InputError(f"zone_index must be in [0, {len(carbon.zones)}) for {carbon.source}")
    hours = (t1 - t0) / 3600.0
    it_kwh = it_w / 1000.0 * hours
    facility_kwh = it_kwh * pue_a
    integral = intensity_integral(carbon, zi, cal.data_hours(t0), cal.data_hours(t1))
    carbon_g = it_w * pue_a / 1000.0 * integral
    gpu_hours = gpus_a * hours
    gpu_cost = gpu_hours * np.asarray(price_eur_per_gpu_h, dtype=np.float64)
    ep = np.asarray(energy_price_eur_per_mwh, dtype=np.float64)
    energy_cost = np.where(np.isnan(ep), 0.0, facility_kwh / 1000.0 * np.nan_to_num(ep))
    shape = np.broadcast(it_kwh, carbon_g, gpu_cost, energy_cost, hrf).shape

    def full(a: F64) -> F64:
        return np.ascontiguousarray(np.broadcast_to(a, shape), dtype=np.float64)

    return UsageArrays(
        gpu_hours=full(gpu_hours),
        it_kwh=full(it_kwh),
        facility_kwh=full(facility_kwh),
        carbon_g=full(carbon_g),
        heat_reused_kwh=full(it_kwh * hrf),
        gpu_cost_eur=full(gpu_cost),
        energy_cost_eur=full(energy_cost),
    )


def account_job(
    *,
    it_power_w: float,
    pue: float,
    start_s: float,
    end_s: float,
    zone: str,
    carbon: CarbonTrace,
    calendar: CalendarMapping | None = None,
    gpus: int,
    price_eur_per_gpu_h: float = 0.0,
    heat_reuse_fraction: float = 0.0,
    energy_price_eur_per_mwh: float | None = None,
) -> JobUsage:
    """Account one job (see the module docstring for the formulas)."""
    u = account_jobs(
        it_power_w=[it_power_w],
        pue=[pue],
        start_s=[start_s],
        end_s=[end_s],
        zone_index=[carbon.zone_index(zone)],
        carbon=carbon,
        calendar=calendar,
        gpus=[gpus],
        price_eur_per_gpu_h=[price_eur_per_gpu_h],
        heat_reuse_fraction=[heat_reuse_fraction],
        energy_price_eur_per_mwh=[np.nan if energy_price_eur_per_mwh is None else energy_price_eur_per_mwh],
    )
    return u.job(0)


def aggregate_usage(
    keys: Sequence[str] | npt.NDArray[np.str_] | npt.NDArray[np.object_], usage: UsageArrays
) -> dict[str, JobUsage]:
    """Sum usage per key (a site, tenant or project id per job), sorted by key."""
    k = np.asarray(keys)
    if k.shape[0] != len(usage):
        raise InputError(f"{k.shape[0]} keys for {len(usage)} jobs; give one key per job")
    if k.shape[0] == 0:
        return {}
    names, inverse = np.unique(k.astype(str), return_inverse=True)
    sums = {f.name: np.bincount(inverse, weights=getattr(usage, f.name), minlength=len(names)) for f in fields(usage)}
    return {str(name): JobUsage(*(float(sums[f.name][i]) for f in fields(JobUsage))) for i, name in enumerate(names)}


def heat_reused_mwh(it_energy_kwh: float | F64, heat_reuse_fraction: float | F64) -> float | F64:
    """Recovered heat in MWh: IT energy times the site's reuse fraction."""
    return np.asarray(it_energy_kwh) * np.asarray(heat_reuse_fraction) / 1000.0


def site_draw_w(site_index: npt.ArrayLike, facility_power_w: npt.ArrayLike, n_sites: int) -> F64:
    """Facility draw per site: the sum of its running jobs' facility power (watts), as an array of ``n_sites``."""
    si = np.asarray(site_index, dtype=np.int64)
    pw = np.asarray(facility_power_w, dtype=np.float64)
    if si.shape != pw.shape:
        raise InputError(
            f"site_index and facility_power_w must have one entry per running job, got {si.shape} and {pw.shape}"
        )
    if si.size and (si.min() < 0 or si.max() >= n_sites):
        raise InputError(f"site_index must be in [0, {n_sites}), got {int(si.min())}..{int(si.max())}")
    return np.bincount(si, weights=pw, minlength=n_sites).astype(np.float64)
