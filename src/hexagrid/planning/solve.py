"""Solve a planning scenario and read the plan back; explain infeasible ones with elastic re-solves."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from hexagrid.domain.kinds import TenantClass
from hexagrid.errors import InfeasibleError
from hexagrid.planning.inputs import PlanningScenario
from hexagrid.planning.lp import SolveResult
from hexagrid.planning.model import HOURS_PER_YEAR, MEUR, MGH, Elastic, ModelIndex, build_model

__all__ = ["Diagnosis", "Plan", "Remedy", "Shortfall", "diagnose", "reference_capacity_gpu_h", "solve_plan"]

_TOL = 1e-6


@dataclass(frozen=True)
class Shortfall:
    """Demand that cannot be met with every limit kept: year, class, residencies, kind and how much."""

    year: int
    segment: str
    gpu_hours: float

    def __str__(self) -> str:
        return f"demand {self.year} {self.segment} short by {_fmt_gpu_h(self.gpu_hours)}"


@dataclass(frozen=True)
class Remedy:
    """What would make the plan feasible when one family of limits is relaxed on its own."""

    family: str  # "grid" | "budget" | "supply" | "all"
    sufficient: bool
    items: list[tuple[str, float, str]]  # (constraint, amount, unit)

    def __str__(self) -> str:
        if not self.sufficient:
            return f"relaxing {self.family} alone is not enough"
        parts: list[str] = []
        grid: dict[str, tuple[str, float]] = {}  # site -> (first year, most MW): one phrase per site
        for c, v, u in self.items:
            if c.startswith("grid["):
                site, year = c[5:-1].split(",")
                first, most = grid.get(site, (year, 0.0))
                grid[site] = (min(first, year), max(most, v))
            else:
                parts.append(_describe(c, v, u))
        grid_parts = [f"+{_fmt_mw(mw)} MW grid at {site} from {year}" for site, (year, mw) in grid.items()]
        return " and ".join(grid_parts + parts)


@dataclass(frozen=True)
class Diagnosis:
    """Why a plan is infeasible: the binding constraints, the demand left unmet, and remedies."""

    binding: list[str]
    shortfalls: list[Shortfall]
    remedies: list[Remedy]
    lead_time_binding: bool
    commitments_infeasible: bool = False  # the committed builds break a limit whatever the demand

    @property
    def message(self) -> str:
        parts = []
        if self.commitments_infeasible:
            parts.append("the committed builds alone break a limit, whatever the demand")
        if self.shortfalls:
            worst = sorted(self.shortfalls, key=lambda s: -s.gpu_hours)[:3]
            parts.append("; ".join(str(s) for s in worst))
        fixes = [str(r) for r in self.remedies if r.sufficient and r.family != "all"]
        if fixes:
            parts.append(" or ".join(fixes) + " would make it feasible")
        elif self.lead_time_binding:
            parts.append(
                "no relaxation of grid, budget or supply helps: the lead time (or the grid connection "
                "year) keeps new capacity out of those years"
            )
        else:
            together = next((r for r in self.remedies if r.family == "all" and r.sufficient), None)
            if together is not None:
                parts.append(f"only together would {together} make it feasible")
        return "infeasible plan: " + ": ".join(parts) if parts else "infeasible plan"

    def to_dict(self) -> dict[str, Any]:
        return {
            "binding": self.binding,
            "lead_time_binding": self.lead_time_binding,
            "commitments_infeasible": self.commitments_infeasible,
            "shortfalls": [{"year": s.year, "segment": s.segment, "gpu_hours": s.gpu_hours} for s in self.shortfalls],
            "remedies": [
                {
                    "family": r.family,
                    "sufficient": r.sufficient,
                    "items": [{"constraint": c, "amount": v, "unit": u} for c, v, u in r.items],
                }
                for r in self.remedies
            ],
            "message": self.message,
        }


def _fmt_mw(mw: float) -> str:
    return f"{mw:,.1f}" if mw >= 1 else f"{mw:.4f}"


def _r(v: float, digits: int) -> float:
    """Rounded, with solver noise like -0.0 shown as 0.0."""
    return round(float(v), digits) + 0.0


def _fmt_gpu_h(v: float) -> str:
    return f"{v / 1e6:,.2f} M GPU-hours" if v >= 1e5 else f"{v:,.0f} GPU-hours"


def _describe(constraint: str, amount: float, unit: str) -> str:
    family, _, args = constraint.partition("[")
    args = args.rstrip("]")
    if family == "grid":
        site, year = args.split(",")
        return f"+{_fmt_mw(amount)} MW grid at {site} in {year}"
    if family == "budget":
        return (
            f"+EUR {amount / 1e9:,.2f}bn budget in {args}" if amount >= 1e8 else f"+EUR {amount:,.0f} budget in {args}"
        )
    if family == "supply":
        name, year = args.split(",")
        return f"+{amount:,.0f} {name} in {year}"
    return f"{constraint} +{amount:,.4g} {unit}"


@dataclass
class Plan:
    """A solved plan. Arrays are indexed [site, year] or [site, type, year]; money EUR, energy MWh, CO2 t."""

    scenario: PlanningScenario
    status: str  # optimal | feasible (time limit, within the gap reported) | infeasible
    objective_eur: float
    mip_gap: float
    solve_s: float
    num_vars: int
    num_rows: int
    years: list[int]
    site_ids: list[str]
    types: list[str]
    mw: npt.NDArray[np.float64]  # [s, t] cumulative facility MW
    gpus: npt.NDArray[np.int64]  # [s, a, t] cumulative GPUs installed
    capex_eur: npt.NDArray[np.float64]  # [s, t] spent that year
    it_energy_mwh: npt.NDArray[np.float64]
    facility_energy_mwh: npt.NDArray[np.float64]
    tco2: npt.NDArray[np.float64]
    heat_reused_mwh: npt.NDArray[np.float64]
    served_gpu_h: dict[tuple[int, str, str, str], float]  # (year, class, residency, site) -> reference GPU-hours
    demand_gpu_h: dict[tuple[int, str, str], float]  # (year, class, residency) -> reference GPU-hours
    cooling: list[str | None]  # chosen cooling option per site
    opened: list[bool]
    new_mw_allowed_from: list[int]  # per site: first year new (uncommitted) MW may operate
    diagnosis: Diagnosis | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def feasible(self) -> bool:
        return self.status in ("optimal", "feasible")

    @property
    def sites_opened(self) -> list[str]:
        return [sid for sid, o in zip(self.site_ids, self.opened, strict=True) if o]

    def totals(self) -> dict[str, Any]:
        """The headline figures of the plan."""
        last = -1
        return {
            "status": self.status,
            "total_gw": float(self.mw[:, last].sum() / 1000.0) if self.feasible else 0.0,
            "total_accelerators": int(self.gpus[:, :, last].sum()) if self.feasible else 0,
            "accelerators_by_type": {n: int(self.gpus[:, a, last].sum()) for a, n in enumerate(self.types)}
            if self.feasible
            else {},
            "capex_eur": float(self.capex_eur.sum()),
            "energy_mwh": float(self.facility_energy_mwh.sum()),
            "tco2": float(self.tco2.sum()),
            "heat_reused_mwh": float(self.heat_reused_mwh.sum()),
            "sites_opened": len(self.sites_opened),
            "opened_site_ids": self.sites_opened,
            "new_site_ids": [
                sid
                for sid, site in zip(self.site_ids, self.scenario.sites, strict=True)
                if sid in self.sites_opened and not site.committed
            ],
            "objective_eur": self.objective_eur if self.feasible else None,
            "mip_gap": self.mip_gap,
            "solve_s": self.solve_s,
            "years": self.years,
        }

    def rows(self) -> list[dict[str, Any]]:
        """The plan table: one row per opened site and year."""
        out = []
        for s, sid in enumerate(self.site_ids):
            if not self.opened[s] and not self.capex_eur[s].any():
                continue
            for t, y in enumerate(self.years):
                row: dict[str, Any] = {
                    "site": sid,
                    "year": y,
                    "cooling": self.cooling[s] or "",
                    "mw": _r(self.mw[s, t], 3),
                    "new_mw": _r(self.mw[s, t] - (self.mw[s, t - 1] if t else 0.0), 3),
                }
                for a, name in enumerate(self.types):
                    row[f"gpus_{name}"] = int(self.gpus[s, a, t])
                row["capex_eur"] = _r(self.capex_eur[s, t], 2)
                row["energy_mwh"] = _r(self.facility_energy_mwh[s, t], 3)
                row["tco2"] = _r(self.tco2[s, t], 3)
                row["heat_reused_mwh"] = _r(self.heat_reused_mwh[s, t], 3)
                out.append(row)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario.name,
            "totals": self.totals(),
            "plan": self.rows(),
            "served": [
                {"year": y, "class": c, "residency": r, "site": s, "gpu_hours": v}
                for (y, c, r, s), v in sorted(self.served_gpu_h.items())
            ],
            "demand": [
                {"year": y, "class": c, "residency": r, "gpu_hours": v}
                for (y, c, r), v in sorted(self.demand_gpu_h.items())
            ],
            "diagnosis": self.diagnosis.to_dict() if self.diagnosis else None,
            "warnings": self.warnings,
        }


def _demand_by_residency(scn: PlanningScenario) -> dict[tuple[int, str, str], float]:
    out: dict[tuple[int, str, str], float] = {}
    for d in scn.demand:
        for res, share in d.residency.items():
            key = (d.year, d.tenant_class.value, res)
            out[key] = out.get(key, 0.0) + d.gpu_hours * share
    return out


def _read_plan(scn: PlanningScenario, ix: ModelIndex, res: SolveResult, nv: int, nr: int) -> Plan:
    S, T, A = len(ix.sites), len(ix.years), len(ix.types)
    x = res.x if res.x is not None else np.zeros(nv)
    mw = np.zeros((S, T))
    for (s, _c, t), col in ix.mw.items():
        mw[s, t] += x[col]
    added = np.zeros((S, A, T))
    for (s, a, t), col in ix.nodes.items():
        added[s, a, t] = round(x[col]) if scn.settings.integer_nodes else x[col]
    gpus = np.rint(np.cumsum(added, axis=2) * scn.gpus_per_node).astype(np.int64)
    capex = np.array(
        [[sum(v * x[col] for col, v in ix.spend[s, t].items()) * MEUR for t in range(T)] for s in range(S)]
    )
    eit = np.array([[x[ix.eit[s, t]] * 1000.0 for t in range(T)] for s in range(S)])
    cooling: list[str | None] = []
    pue = np.ones(S)
    rec = np.zeros(S)
    for s in range(S):
        chosen = [c for c in ix.cooling[s] if x[ix.cool[s, c]] > 0.5]
        opt = scn.cooling_options[chosen[0]] if chosen else None
        cooling.append(opt.id if opt else None)
        if opt:
            pue[s], rec[s] = opt.pue, opt.heat_recovery_fraction
    efac = eit * pue[:, None]
    tco2 = efac * ix.carbon_t_per_mwh[:, None]
    heat_cap = np.array([site.heat_demand_mwh_per_year for site in ix.sites])[:, None]
    heat = np.minimum(eit * rec[:, None], heat_cap)
    opened = [bool(x[ix.open[s, T - 1]] > 0.5) for s in range(S)]
    served: dict[tuple[int, str, str, str], float] = {}
    for (s, a, t, g), col in ix.served.items():
        v = x[col] * MGH * ix.thr[a, g]
        if v <= _TOL:
            continue
        seg = ix.segments[g]
        # merged residencies share eligible sites: split the served work in proportion to their demand
        shares = _residency_shares(scn, ix.years[t], seg.tenant_class, seg.residencies)
        for res_, share in shares.items():
            key = (ix.years[t], seg.tenant_class.value, res_, ix.sites[s].id)
            served[key] = served.get(key, 0.0) + v * share
    allowed = [scn.start_year + scn.lead_time(site) for site in ix.sites]
    return Plan(
        scn,
        res.status,
        res.objective * MEUR,
        res.mip_gap,
        res.solve_s,
        nv,
        nr,
        ix.years,
        [s.id for s in ix.sites],
        ix.types,
        mw,
        gpus,
        capex,
        eit,
        efac,
        tco2,
        heat,
        served,
        _demand_by_residency(scn),
        cooling,
        opened,
        allowed,
    )


def _residency_shares(
    scn: PlanningScenario, year: int, cls: TenantClass, residencies: tuple[str, ...]
) -> dict[str, float]:
    d = next((d for d in scn.demand if d.year == year and d.tenant_class is cls), None)
    if d is None:
        return {r: 1.0 / len(residencies) for r in residencies}
    w = {r: d.residency.get(r, 0.0) for r in residencies}
    tot = sum(w.values())
    return {r: (v / tot if tot > 0 else 1.0 / len(w)) for r, v in w.items()}


def solve_plan(scn: PlanningScenario, diagnose_infeasible: bool = True) -> Plan:
    """Solve the MILP. An infeasible plan comes back with ``status='infeasible'`` and a :class:`Diagnosis`."""
    model, ix = build_model(scn)
    res = model.solve(scn.settings.mip_gap, scn.settings.time_limit_s, scn.settings.threads)
    plan = _read_plan(scn, ix, res, model.num_cols, model.num_rows)
    if res.status == "infeasible":
        plan.diagnosis = diagnose(scn) if diagnose_infeasible else None
    elif res.status in ("time_limit", "error", "unbounded"):
        raise InfeasibleError(
            f"the planner found no plan within {scn.settings.time_limit_s:g} s (HiGHS: {res.model_status}); "
            "raise settings.time_limit_s or settings.mip_gap, or set settings.integer_nodes: false"
        )
    if res.status == "feasible":
        plan.warnings.append(
            f"stopped at the time limit with a {res.mip_gap:.2%} gap (target {scn.settings.mip_gap:.2%})"
        )
    _check_fleet_rounding(plan)
    return plan


def _check_fleet_rounding(plan: Plan) -> None:
    if not plan.feasible:
        return
    gpn = plan.scenario.gpus_per_node
    bad = int((plan.gpus % gpn).sum())
    if bad:
        plan.warnings.append("continuous node counts were rounded to whole nodes in the fleet scenarios")


def _slack_items(ix: ModelIndex, x: npt.NDArray[np.float64], family: str) -> list[tuple[str, float, str]]:
    items: list[tuple[str, float, str]] = []
    if family in ("grid", "all"):
        for (s, t), col in ix.slack_grid.items():
            if x[col] > max(1e-4, 1e-5 * ix.sites[s].max_grid_mw):  # ignore solver noise on big sites
                items.append((f"grid[{ix.sites[s].id},{ix.years[t]}]", float(x[col]), "MW"))
    if family in ("budget", "all"):
        for t, col in ix.slack_budget.items():
            if x[col] > 1e-2:
                items.append((f"budget[{ix.years[t]}]", float(x[col]) * MEUR, "EUR"))
    if family in ("supply", "all"):
        for (a, t), col in ix.slack_supply.items():
            if x[col] > 1e-6:
                items.append((f"supply[{ix.types[a]},{ix.years[t]}]", float(np.ceil(x[col] * 1000.0 - 1e-6)), "GPUs"))
    return items


def diagnose(scn: PlanningScenario) -> Diagnosis:
    """Elastic re-solves: what demand is short with every limit kept, and which single relaxation fixes it.

    1. Only demand may fall short (minimise the shortfall): names the unmet demand.
    2. For each of grid, budget and supply alone, then all three: demand weighs a million times more than the
       relaxed limit, so the slack found is the least extra grid MW, EUR or GPUs that meets all demand.
    Families whose relaxation alone meets demand are the binding constraints.
    """
    opts = (scn.settings.mip_gap, scn.settings.time_limit_s, scn.settings.threads)
    m, ix = build_model(scn, Elastic(demand=True))
    res = m.solve(*opts)
    shortfalls: list[Shortfall] = []
    if res.x is not None:
        for (t, g), col in ix.slack_demand.items():
            if res.x[col] * MGH > 1.0:
                shortfalls.append(Shortfall(ix.years[t], ix.segments[g].label, float(res.x[col] * MGH)))
    remedies: list[Remedy] = []
    binding: list[str] = []
    for family in ("grid", "budget", "supply", "all"):
        if family == "budget" and not scn.budget_eur_per_year:
            continue
        el = Elastic(
            demand=True,
            demand_weight=1e6,
            grid=family in ("grid", "all"),
            budget=family in ("budget", "all"),
            supply=family in ("supply", "all"),
        )
        m2, ix2 = build_model(scn, el)
        r2 = m2.solve(*opts)
        if r2.x is None:
            remedies.append(Remedy(family, False, []))
            continue
        unmet = float(sum(r2.x[col] for col in ix2.slack_demand.values()) * MGH)
        ok = bool(unmet <= 1.0)
        items = _slack_items(ix2, r2.x, family)
        remedies.append(Remedy(family, ok, items))
        if ok and family != "all":
            binding.extend(c for c, _, _ in items)
    all_remedy = next((r for r in remedies if r.family == "all"), None)
    lead_binding = all_remedy is not None and not all_remedy.sufficient
    if lead_binding:
        binding.append("lead_time")
    if not binding and all_remedy is not None and all_remedy.sufficient:
        binding.extend(c for c, _, _ in all_remedy.items)
    return Diagnosis(binding, shortfalls, remedies, lead_binding, commitments_infeasible=res.x is None)


def reference_capacity_gpu_h(plan: Plan) -> npt.NDArray[np.float64]:
    """Reference (training) GPU-hours the installed fleet could deliver per year at 100% (for plots)."""
    roadmap = {a.name: a for a in plan.scenario.accelerators}
    thr = np.array([roadmap[n].accelerator().training_throughput for n in plan.types])
    return np.asarray((plan.gpus * thr[None, :, None]).sum(axis=(0, 1)) * HOURS_PER_YEAR, dtype=np.float64)
