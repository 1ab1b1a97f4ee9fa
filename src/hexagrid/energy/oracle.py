"""A lower bound on the carbon of a set of flexible jobs, so a schedule's carbon can be given as a gap.

The bound is the optimum of a linear programme (solved with HiGHS) that relaxes scheduling: a job may
split its GPU-hours across hours and sites and need not run contiguously. Hours are indexed 0..H-1 on
the arrays' own clock (hour h covers [h, h+1)); a job's release and deadline are hours (fractional
allowed: ``(t_s - hour0_s) / 3600``).

    variables  x[j,s,h] >= 0     GPU-hours of job j at site s in hour h, for hours overlapping
                                 [release_j, deadline_j) and sites the job may use
    minimise   sum  x[j,s,h] * energy_kwh_per_gpu_h[j,s] * intensity[s,h]          (grams CO2eq)
    subject to sum_{s,h} x[j,s,h]  = gpus_j * duration_h_j              (all work done)
               sum_s x[j,s,h]     <= gpus_j * overlap(h, [release_j, deadline_j))   (no more than its GPUs)
               sum_j x[j,s,h]     <= capacity_gpus[s,h]                  (site capacity)

Any schedule that runs each job on ``gpus_j`` GPUs for ``duration_h_j`` hours inside its window within
capacity gives a feasible x of the same carbon (with intensity constant within each hour), so the LP
optimum is a lower bound on every such schedule, including the scheduler's.

:func:`oracle_instance` builds the arrays from ``JobSpec``s and a ``Fleet`` with the shared power and
runtime models; ``slot_hours`` trades tightness for speed on large instances (still a valid bound).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import highspy
import numpy as np
import numpy.typing as npt

from hexagrid.domain.accelerators import CATALOG, runtime_s
from hexagrid.domain.fleet import Fleet
from hexagrid.domain.jobs import JobSpec
from hexagrid.domain.kinds import JobKind
from hexagrid.energy.calendar import CalendarMapping
from hexagrid.energy.carbon import CarbonTrace
from hexagrid.energy.highs import new_highs
from hexagrid.energy.power import DEFAULT_UTILISATION, busy_gpu_it_power_w
from hexagrid.errors import InfeasibleError, InputError

__all__ = ["OracleInstance", "OracleJob", "OracleResult", "carbon_gap_pct", "carbon_lower_bound", "oracle_instance"]

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class OracleJob:
    """A flexible job: ``gpus`` GPUs for ``duration_h`` hours within ``[release_h, deadline_h)``.

    ``sites`` restricts it to those site indices (residency, access); None means any site.
    """

    release_h: float
    deadline_h: float
    gpus: int
    duration_h: float
    sites: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class OracleResult:
    """The bound (grams CO2eq), HiGHS's status, and the relaxed plan's GPU-hours per site and hour."""

    bound_g: float
    status: str
    gpu_hours: F64  # [sites x hours]
    variables: int
    constraints: int

    def gap_pct(self, schedule_carbon_g: float) -> float:
        return carbon_gap_pct(schedule_carbon_g, self.bound_g)


def carbon_gap_pct(schedule_carbon_g: float, bound_g: float) -> float:
    """How far a schedule is above the bound, in percent of the bound (0 = optimal)."""
    if bound_g <= 0:
        return 0.0 if schedule_carbon_g <= 0 else math.inf
    return 100.0 * (schedule_carbon_g - bound_g) / bound_g


def _validate(jobs: Sequence[OracleJob], cap: F64, inten: F64, energy: F64) -> None:
    if cap.ndim != 2:
        raise InputError(f"capacity_gpus must be [sites x hours], got shape {cap.shape}")
    if inten.shape != cap.shape:
        raise InputError(f"intensity_g_per_kwh must have the shape of capacity_gpus {cap.shape}, got {inten.shape}")
    n_sites = cap.shape[0]
    if energy.shape not in ((n_sites,), (len(jobs), n_sites)):
        raise InputError(
            f"energy_kwh_per_gpu_h must be [sites] ({n_sites},) or [jobs x sites] ({len(jobs)}, {n_sites}), got {energy.shape}"
        )
    for name, a in (("capacity_gpus", cap), ("intensity_g_per_kwh", inten), ("energy_kwh_per_gpu_h", energy)):
        if not np.all(np.isfinite(a)) or np.any(a < 0):
            raise InputError(f"{name} must hold finite values >= 0")
    for i, j in enumerate(jobs):
        if j.gpus < 1 or j.duration_h <= 0:
            raise InputError(
                f"jobs[{i}]: gpus must be >= 1 and duration_h > 0, got gpus={j.gpus}, duration_h={j.duration_h}"
            )
        if not j.deadline_h > j.release_h:
            raise InputError(f"jobs[{i}]: deadline_h ({j.deadline_h}) must be after release_h ({j.release_h})")
        if j.sites is not None and any(not 0 <= s < n_sites for s in j.sites):
            raise InputError(f"jobs[{i}]: sites must be indices in [0, {n_sites}), got {j.sites}")


def carbon_lower_bound(
    jobs: Sequence[OracleJob],
    capacity_gpus: npt.ArrayLike,
    intensity_g_per_kwh: npt.ArrayLike,
    energy_kwh_per_gpu_h: npt.ArrayLike,
    time_limit_s: float = 300.0,
    slot_hours: int = 1,
    presolve: bool = True,
) -> OracleResult:
    """The LP bound (see the module docstring). Raises InfeasibleError if no relaxed plan fits at all.

    ``slot_hours`` > 1 solves a coarser, still valid relaxation for large instances: hours are grouped
    into slots of that many hours, each slot's capacity is the sum of its hours' GPU-hours and its
    intensity the lowest of its hours (so the bound can only go down); ``gpu_hours`` is then per slot.
    The LP has about ``slot_hours`` times fewer variables.

    ``presolve=False`` skips HiGHS's presolve: on a small sample offered the whole fleet (the simulator's
    oracle gap) nearly every capacity row is slack, and presolve took ~4x the simplex's own time there.
    """
    if slot_hours < 1:
        raise InputError(f"slot_hours must be >= 1, got {slot_hours}")
    cap_h = np.asarray(capacity_gpus, dtype=np.float64)
    inten_h = np.asarray(intensity_g_per_kwh, dtype=np.float64)
    energy = np.asarray(energy_kwh_per_gpu_h, dtype=np.float64)
    _validate(jobs, cap_h, inten_h, energy)
    n_sites, total_hours = cap_h.shape
    k = int(slot_hours)
    n_hours = -(-total_hours // k)  # number of slots (units); a unit is one hour when k == 1
    edges = np.minimum(np.arange(n_hours + 1) * k, total_hours).astype(np.float64)
    if k == 1:
        cap, inten = cap_h, inten_h
    else:
        pad = n_hours * k - total_hours
        cap = np.pad(cap_h, ((0, 0), (0, pad))).reshape(n_sites, n_hours, k).sum(axis=2)
        inten = np.pad(inten_h, ((0, 0), (0, pad)), constant_values=np.inf).reshape(n_sites, n_hours, k).min(axis=2)
    n_jobs = len(jobs)
    if n_jobs == 0:
        return OracleResult(0.0, "optimal", np.zeros_like(cap), 0, 0)
    e_js = np.broadcast_to(energy, (n_jobs, n_sites))

    # enumerate variables job by job: hours overlapping the window x allowed sites
    vj, vs, vh, vub, vjh = [], [], [], [], []
    jh_count = 0
    demand = np.empty(n_jobs)
    jh_upper: list[F64] = []
    for j, job in enumerate(jobs):
        h0 = max(0, math.floor(job.release_h / k))
        h1 = min(n_hours, math.ceil(min(job.deadline_h, total_hours) / k))
        demand[j] = job.gpus * job.duration_h
        sites = np.arange(n_sites) if job.sites is None else np.array(sorted(set(job.sites)), dtype=np.int64)
        if h1 <= h0 or sites.size == 0:
            raise InfeasibleError(
                f"jobs[{j}]: its window [{job.release_h}, {job.deadline_h}) h has no hour in the arrays' 0..{total_hours} h "
                "or no allowed site",
                diagnosis={"job": j},
            )
        hours = np.arange(h0, h1)
        overlap = np.minimum(edges[hours + 1], job.deadline_h) - np.maximum(edges[hours], job.release_h)
        rate = job.gpus * np.maximum(overlap, 0.0)
        if rate.sum() < demand[j] * (1 - 1e-9):
            raise InfeasibleError(
                f"jobs[{j}]: {job.gpus} GPUs x {job.duration_h} h does not fit in its window "
                f"[{job.release_h}, {job.deadline_h}) h even with every GPU it asks for",
                diagnosis={"job": j},
            )
        hh, ss = np.meshgrid(hours, sites, indexing="ij")
        vj.append(np.full(hh.size, j))
        vh.append(hh.ravel())
        vs.append(ss.ravel())
        vub.append(np.repeat(rate, sites.size))
        vjh.append(jh_count + np.repeat(np.arange(hours.size), sites.size))
        jh_upper.append(rate)
        jh_count += hours.size
    var_j, var_s, var_h = np.concatenate(vj), np.concatenate(vs), np.concatenate(vh)
    var_jh = np.concatenate(vjh)
    n_var = var_j.size
    cost = e_js[var_j, var_s] * inten[var_s, var_h]

    # rows: [demand (J)] [capacity (S*H)] [job-hour rate (JH)]; every column has exactly 3 entries
    n_row = n_jobs + n_sites * n_hours + jh_count
    index = np.empty((n_var, 3), dtype=np.int32)
    index[:, 0] = var_j
    index[:, 1] = n_jobs + var_s * n_hours + var_h
    index[:, 2] = n_jobs + n_sites * n_hours + var_jh
    row_lower = np.concatenate([demand, np.zeros(n_sites * n_hours), np.zeros(jh_count)])
    row_upper = np.concatenate([demand, cap.ravel(), np.concatenate(jh_upper)])

    lp = highspy.HighsLp()
    lp.num_col_ = n_var
    lp.num_row_ = n_row
    lp.col_cost_ = cost
    lp.col_lower_ = np.zeros(n_var)
    lp.col_upper_ = np.concatenate(vub)
    lp.row_lower_ = row_lower
    lp.row_upper_ = row_upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.arange(0, 3 * n_var + 1, 3, dtype=np.int32)
    lp.a_matrix_.index_ = index.ravel()
    lp.a_matrix_.value_ = np.ones(3 * n_var)
    options: dict[str, float | str] = {"time_limit": float(time_limit_s)}
    if not presolve:
        options["presolve"] = "off"
    h = new_highs(**options)
    h.passModel(lp)
    h.run()
    status = h.getModelStatus()
    name = h.modelStatusToString(status).lower()
    if status == highspy.HighsModelStatus.kInfeasible:
        raise InfeasibleError(
            f"no relaxed plan fits {n_jobs} jobs into the capacity given: even splitting jobs across sites and hours, "
            "some hours are over capacity; add capacity or widen the windows",
            diagnosis={"status": name},
        )
    if status != highspy.HighsModelStatus.kOptimal:
        raise InfeasibleError(
            f"HiGHS stopped with status {name!r} before proving an optimum", diagnosis={"status": name}
        )
    x = np.asarray(h.getSolution().col_value)
    plan = np.zeros((n_sites, n_hours))
    np.add.at(plan, (var_s, var_h), x)
    bound = float(h.getInfo().objective_function_value)
    return OracleResult(bound_g=bound, status=name, gpu_hours=plan, variables=n_var, constraints=n_row)


@dataclass(frozen=True)
class OracleInstance:
    """An oracle problem built from job specs and a fleet; ``solve()`` gives the bound.

    Hour ``h`` of the arrays covers POSIX ``[hour0_s + h * 3600, hour0_s + (h + 1) * 3600)``. ``job_ids``
    names ``jobs`` in order; ``skipped`` lists jobs no site of the fleet can run (left out of the bound).
    """

    jobs: list[OracleJob]
    job_ids: list[str]
    capacity_gpus: F64
    intensity_g_per_kwh: F64
    energy_kwh_per_gpu_h: F64
    hour0_s: float
    skipped: list[str]

    def solve(self, time_limit_s: float = 300.0, slot_hours: int = 1, presolve: bool = True) -> OracleResult:
        return carbon_lower_bound(
            self.jobs,
            self.capacity_gpus,
            self.intensity_g_per_kwh,
            self.energy_kwh_per_gpu_h,
            time_limit_s,
            slot_hours,
            presolve,
        )


def oracle_instance(
    jobs: Sequence[JobSpec],
    fleet: Fleet,
    trace: CarbonTrace,
    calendar: CalendarMapping,
    hour0_s: float,
    hours: int,
    window_end_s: Sequence[float] | None = None,
) -> OracleInstance:
    """The oracle problem for ``jobs`` on ``fleet``, from the same models the scheduler and simulator use.

    Each rule below can only loosen the problem, so the result stays a lower bound on any schedule that
    runs these jobs on this fleet (with the one power model and the one runtime model):

    * a job's window is ``[submit_s, deadline_s)``, or up to ``window_end_s[j]`` (e.g. when the job really
      ended, if later), or the arrays' end; sites are those with a pool whose accelerator it accepts, in a
      country its residency allows and of a tier it requires (access rules and availability windows are
      ignored: more room);
    * its work is ``gpus x`` the shortest runtime over those pools, and each site's energy per GPU-hour is
      the least ``runtime_p x power_p x PUE`` over the site's pools divided by that shortest runtime;
    * capacity is every GPU of the site in every hour; each hour's intensity is the lower of the (at most
      two) data hours it overlaps under ``calendar``.
    """
    if hours < 1:
        raise InputError(f"hours must be >= 1, got {hours}")
    if window_end_s is not None and len(window_end_s) != len(jobs):
        raise InputError(f"window_end_s has {len(window_end_s)} entries for {len(jobs)} jobs")
    sites = fleet.sites
    n_sites = len(sites)
    capacity = np.repeat(np.array([[float(s.gpus)] for s in sites]), hours, axis=1)
    rows = np.array([trace.zone_index(s.grid_zone) for s in sites], dtype=np.int64)
    t: F64 = np.asarray(hour0_s + np.arange(hours) * 3600.0, dtype=np.float64)
    a = calendar.hour_indices(t)
    b = calendar.hour_indices(t + 3599.999)
    intensity = np.minimum(trace.values[rows][:, a], trace.values[rows][:, b])
    end_s = hour0_s + hours * 3600.0
    out_jobs: list[OracleJob] = []
    ids: list[str] = []
    energy: list[list[float]] = []
    skipped: list[str] = []
    for j, spec in enumerate(jobs):
        kind = spec.kind
        inference = kind is JobKind.INFERENCE
        u = DEFAULT_UTILISATION[kind]
        best_site: list[float] = [math.inf] * n_sites  # least runtime x W per GPU x PUE at each site (W-s)
        r_min = math.inf
        for si, site in enumerate(sites):
            if not spec.residency.allows(site.country) or not site.tier.satisfies(spec.min_tier):
                continue
            for pool in site.pools:
                if not spec.resources.accepts(pool.accelerator):
                    continue
                acc = CATALOG[pool.accelerator]
                run = runtime_s(spec.expected_duration_s, acc, inference)
                w = float(busy_gpu_it_power_w(acc.tdp_w, acc.idle_w, float(pool.gpus_per_node), u)) * site.pue
                best_site[si] = min(best_site[si], run * w)
                r_min = min(r_min, run)
        allowed = tuple(si for si in range(n_sites) if math.isfinite(best_site[si]))
        if not allowed:
            skipped.append(spec.id)
            continue
        release_h = (spec.submit_s - hour0_s) / 3600.0
        hi = spec.deadline_s if spec.deadline_s is not None else end_s
        if window_end_s is not None:
            hi = max(hi, float(window_end_s[j]))
        deadline_h = min((hi - hour0_s) / 3600.0, float(hours))
        out_jobs.append(OracleJob(release_h, deadline_h, spec.resources.gpus, r_min / 3600.0, allowed))
        ids.append(spec.id)
        # kWh per GPU-hour of the shortest-runtime work: (runtime x W) / shortest runtime / 1000
        energy.append([(v / r_min / 1000.0) if math.isfinite(v) else 0.0 for v in best_site])
    e = np.array(energy, dtype=np.float64).reshape(len(out_jobs), n_sites)
    return OracleInstance(out_jobs, ids, capacity, intensity, e, float(hour0_s), skipped)
