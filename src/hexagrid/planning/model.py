"""The capacity-planning MILP: which sites to open, with which cooling, how many MW and accelerators per year.

The formulation is written out in ``docs/planning.md``; the comments below name its parts. Units inside
the model are scaled for HiGHS: money in MEUR, served work in millions of GPU-hours, energy in GWh,
power in MW, accelerators in whole nodes of ``gpus_per_node`` GPUs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product

import numpy as np
import numpy.typing as npt

from hexagrid.domain.geography import EU_COUNTRIES
from hexagrid.domain.kinds import JobKind, TenantClass
from hexagrid.energy.carbon import load_carbon
from hexagrid.energy.power import DEFAULT_UTILISATION, busy_gpu_it_power_w
from hexagrid.errors import NotFound
from hexagrid.planning.inputs import RESIDENCIES, Ownership, PlanningScenario, SiteCandidate
from hexagrid.planning.lp import INF, LinearModel

__all__ = ["HOURS_PER_YEAR", "Elastic", "ModelIndex", "Segment", "build_model", "zone_carbon_g_per_kwh"]

HOURS_PER_YEAR = 8760.0
MEUR = 1e6
MGH = 1e6  # served work in millions of GPU-hours
INFERENCE_KINDS = (JobKind.INFERENCE,)


def zone_carbon_g_per_kwh(scenario: PlanningScenario, zone: str) -> float:
    """Annual mean grid carbon intensity of ``zone``: the scenario's value, else the packaged 2022 data (B's loader)."""
    if zone in scenario.carbon_g_per_kwh:
        return scenario.carbon_g_per_kwh[zone]
    trace = load_carbon("builtin:2022")
    if zone not in trace.zones:
        raise NotFound(
            f"grid zone {zone!r} is not in the packaged 2022 carbon data (zones: {', '.join(trace.zones)}); "
            f"give carbon_g_per_kwh: {{{zone}: <g/kWh>}} in the planning scenario"
        )
    return float(np.mean(trace.series(zone)))


@dataclass(frozen=True)
class Segment:
    """A slice of demand served alike: same class and kind and the same set of eligible sites.

    Residencies whose eligible sites coincide (all of them, in a France-only plan) are merged: an exact
    reduction of the model, undone when results are reported.
    """

    tenant_class: TenantClass
    kind: JobKind
    residencies: tuple[str, ...]
    sites: tuple[int, ...]

    @property
    def label(self) -> str:
        return f"{self.tenant_class.value}/{'+'.join(self.residencies)}/{self.kind.value}"


@dataclass(frozen=True)
class Elastic:
    """Which constraint families may be broken at a price (infeasibility diagnosis), and the weight on demand."""

    demand: bool = False
    budget: bool = False
    grid: bool = False
    supply: bool = False
    demand_weight: float = 1.0  # objective weight per million GPU-hours of unmet demand (other slack weighs 1)


@dataclass
class ModelIndex:
    """Where every variable and family of rows lives, so results and diagnoses can be read back."""

    scenario: PlanningScenario
    years: list[int]
    sites: list[SiteCandidate]
    types: list[str]
    cooling: list[list[int]]  # per site: allowed cooling option indices
    segments: list[Segment]
    demand: npt.NDArray[np.float64]  # [year, segment] in reference GPU-hours
    thr: npt.NDArray[np.float64]  # [type, segment] reference work per GPU-hour
    busy_w: npt.NDArray[np.float64]  # [type, segment] IT W per busy GPU
    idle_w: npt.NDArray[np.float64]  # [type] IT W per idle GPU
    node_it_mw: npt.NDArray[np.float64]  # [type] IT MW of one node at the sizing utilisation
    carbon_t_per_mwh: npt.NDArray[np.float64]  # [site]
    premium_eur_per_gpu_h: npt.NDArray[np.float64]  # [site, segment]
    open: dict[tuple[int, int], int] = field(default_factory=dict)  # (s, t)
    cool: dict[tuple[int, int], int] = field(default_factory=dict)  # (s, c)
    mw: dict[tuple[int, int, int], int] = field(default_factory=dict)  # (s, c, t) cumulative facility MW
    nodes: dict[tuple[int, int, int], int] = field(default_factory=dict)  # (s, a, t) nodes added in year t
    served: dict[tuple[int, int, int, int], int] = field(default_factory=dict)  # (s, a, t, g) M GPU-hours
    eit: dict[tuple[int, int], int] = field(default_factory=dict)  # (s, t) IT GWh
    efac: dict[tuple[int, int], int] = field(default_factory=dict)  # (s, t) facility GWh
    heat: dict[tuple[int, int], int] = field(default_factory=dict)  # (s, t) reused heat GWh
    slack_demand: dict[tuple[int, int], int] = field(default_factory=dict)  # (t, g) M GPU-hours
    slack_budget: dict[int, int] = field(default_factory=dict)  # t, MEUR
    slack_grid: dict[tuple[int, int], int] = field(default_factory=dict)  # (s, t) MW
    slack_supply: dict[tuple[int, int], int] = field(default_factory=dict)  # (a, t) thousands of GPUs
    spend: dict[tuple[int, int], dict[int, float]] = field(default_factory=dict)  # (s, t) -> coefs in MEUR

    @property
    def gpus_per_node(self) -> int:
        return self.scenario.gpus_per_node

    def site_index(self, site_id: str) -> int:
        return next(i for i, s in enumerate(self.sites) if s.id == site_id)


def _eligible(scn: PlanningScenario, site: SiteCandidate, cls: TenantClass, residency: str, kind: JobKind) -> bool:
    """May work of this class/residency/kind run at ``site``? (FACTS: public sites are non-commercial only.)"""
    if residency == "FR" and site.country != "FR":
        return False
    if residency == "EU" and site.country not in EU_COUNTRIES:
        return False
    if cls is TenantClass.COMMERCIAL and site.ownership is Ownership.PUBLIC:
        return False
    if (
        cls is TenantClass.ACADEMIC
        and site.ownership is Ownership.PRIVATE
        and scn.academic_on_private_eur_per_gpu_h is None
    ):
        return False
    return not (
        kind in INFERENCE_KINDS
        and scn.inference_max_latency_ms is not None
        and site.latency_ms > scn.inference_max_latency_ms
    )


def _segments(scn: PlanningScenario) -> tuple[list[Segment], npt.NDArray[np.float64]]:
    years = scn.years
    raw: dict[tuple[TenantClass, str, JobKind], npt.NDArray[np.float64]] = {}
    for d in scn.demand:
        for (res, rshare), (kind, kshare) in product(d.residency.items(), d.kind.items()):
            key = (d.tenant_class, res, kind)
            arr = raw.setdefault(key, np.zeros(len(years)))
            arr[years.index(d.year)] += d.gpu_hours * rshare * kshare
    groups: dict[tuple[TenantClass, JobKind, tuple[int, ...]], list[str]] = {}
    totals: dict[tuple[TenantClass, JobKind, tuple[int, ...]], npt.NDArray[np.float64]] = {}
    for rkey in sorted(raw, key=lambda k: (k[0].value, RESIDENCIES.index(k[1]), k[2].value)):
        cls, res, kind = rkey
        if not raw[rkey].any():
            continue
        sites = tuple(i for i, s in enumerate(scn.sites) if _eligible(scn, s, cls, res, kind))
        gkey = (cls, kind, sites)
        groups.setdefault(gkey, []).append(res)
        totals[gkey] = totals.get(gkey, np.zeros(len(years))) + raw[rkey]
    segs = [Segment(cls, kind, tuple(res), sites) for (cls, kind, sites), res in groups.items()]
    demand = (
        np.stack([totals[(s.tenant_class, s.kind, s.sites)] for s in segs], axis=1)
        if segs
        else np.zeros((len(years), 0))
    )
    return segs, demand


def _committed(site: SiteCandidate, year: int) -> tuple[float, dict[str, int]]:
    """Committed MW and GPUs by type at ``site`` by ``year`` (the largest commitment due by then)."""
    mw = 0.0
    gpus: dict[str, int] = {}
    for c in site.committed:
        if c.year <= year:
            mw = max(mw, c.mw)
            for name, n in c.accelerators.items():
                gpus[name] = max(gpus.get(name, 0), n)
    return mw, gpus


def _spend_window(year: int, lead: int, years: list[int]) -> list[int]:
    """Years (within the horizon) over which capacity operating from ``year`` is paid: the lead time before it."""
    window = list(range(year - lead, year)) if lead > 0 else [year]
    return [y for y in window if y in years]


def build_model(scn: PlanningScenario, elastic: Elastic | None = None) -> tuple[LinearModel, ModelIndex]:
    """The MILP for ``scn``; with ``elastic``, the named constraint families get penalised slack instead."""
    el = elastic or Elastic()
    diag = any((el.demand, el.budget, el.grid, el.supply))
    years = scn.years
    T = len(years)
    types = [a.name for a in scn.accelerators]
    roadmap = {a.name: a for a in scn.accelerators}
    gpn = scn.gpus_per_node
    segs, demand = _segments(scn)
    G = len(segs)
    A = len(types)
    S = len(scn.sites)
    cool_opts = scn.cooling_options
    cooling = [[cool_opts.index(c) for c in scn.site_cooling(s)] for s in scn.sites]

    thr = np.zeros((A, G))
    busy = np.zeros((A, G))
    idle = np.zeros(A)
    node_it_mw = np.zeros(A)
    for a, name in enumerate(types):
        acc = roadmap[name].accelerator()
        idle[a] = busy_gpu_it_power_w(acc.tdp_w, acc.idle_w, float(gpn), 0.0)
        node_it_mw[a] = gpn * busy_gpu_it_power_w(acc.tdp_w, acc.idle_w, float(gpn), scn.power_sizing_utilisation) / 1e6
        for g, seg in enumerate(segs):
            thr[a, g] = acc.inference_throughput if seg.kind in INFERENCE_KINDS else acc.training_throughput
            busy[a, g] = busy_gpu_it_power_w(acc.tdp_w, acc.idle_w, float(gpn), DEFAULT_UTILISATION[seg.kind])
    carbon = np.array([zone_carbon_g_per_kwh(scn, s.grid_zone) / 1000.0 for s in scn.sites])  # t/MWh
    premium = np.zeros((S, G))
    for s, site in enumerate(scn.sites):
        for g, seg in enumerate(segs):
            if seg.tenant_class is TenantClass.ACADEMIC and site.ownership is Ownership.PRIVATE:
                premium[s, g] = scn.academic_on_private_eur_per_gpu_h or 0.0

    ix = ModelIndex(
        scn, years, list(scn.sites), types, cooling, segs, demand, thr, busy, idle, node_it_mw, carbon, premium
    )
    m = LinearModel()
    big_grid = 1e5 if el.grid else 0.0  # room for grid slack in the on/off links
    energy_cost = np.array(
        [(scn.energy_price_eur_per_mwh + scn.carbon_price_eur_per_t * carbon[s]) * 1000.0 / MEUR for s in range(S)]
    )  # MEUR per GWh (pure feasibility solves ignore money)

    # ---- site open (monotone) and cooling choice
    for s, site in enumerate(scn.sites):
        lead = scn.lead_time(site)
        first_commit = min((c.year for c in site.committed), default=None)
        for t, y in enumerate(years):
            allowed = y >= scn.start_year + lead or (first_commit is not None and y >= first_commit)
            forced = first_commit is not None and y >= first_commit
            ix.open[s, t] = m.add_col(
                f"open[{site.id},{y}]", lb=1.0 if forced else 0.0, ub=1.0 if allowed else 0.0, integer=True
            )
            if t > 0:
                m.add_row(f"open_monotone[{site.id},{y}]", {ix.open[s, t]: 1.0, ix.open[s, t - 1]: -1.0}, lo=0.0)
        committed_cooling = {c.cooling for c in site.committed if c.cooling}
        for c in cooling[s]:
            fixed = cool_opts[c].id in committed_cooling
            ix.cool[s, c] = m.add_col(
                f"cool[{site.id},{cool_opts[c].id}]", lb=1.0 if fixed else 0.0, ub=1.0, integer=True
            )
        m.add_row(
            f"one_cooling[{site.id}]",
            {**{ix.cool[s, c]: 1.0 for c in cooling[s]}, ix.open[s, T - 1]: -1.0},
            lo=0.0,
            hi=0.0,
        )
        if not diag:
            m.add_cost(ix.open[s, T - 1], site.fixed_capex_eur / MEUR)

    # ---- facility MW per cooling (cumulative, non-decreasing), grid, lead time, commitments
    for s, site in enumerate(scn.sites):
        lead = scn.lead_time(site)
        link = site.max_grid_mw + big_grid
        for c in cooling[s]:
            opt = cool_opts[c]
            for t, y in enumerate(years):
                ix.mw[s, c, t] = m.add_col(f"mw[{site.id},{opt.id},{y}]")
                m.add_row(f"cooling_link[{site.id},{opt.id},{y}]", {ix.mw[s, c, t]: 1.0, ix.cool[s, c]: -link}, hi=0.0)
                if t > 0:
                    m.add_row(
                        f"mw_monotone[{site.id},{opt.id},{y}]", {ix.mw[s, c, t]: 1.0, ix.mw[s, c, t - 1]: -1.0}, lo=0.0
                    )
            if not diag:
                m.add_cost(ix.mw[s, c, T - 1], (site.capex_eur_per_mw + opt.capex_eur_per_mw) / MEUR)
        for t, y in enumerate(years):
            total = {ix.mw[s, c, t]: 1.0 for c in cooling[s]}
            m.add_row(f"open_link[{site.id},{y}]", {**total, ix.open[s, t]: -link}, hi=0.0)
            grid_row = dict(total)
            if el.grid:
                ix.slack_grid[s, t] = m.add_col(f"slack_grid[{site.id},{y}]", cost=1.0)
                grid_row[ix.slack_grid[s, t]] = -1.0
            m.add_row(f"grid[{site.id},{y}]", grid_row, hi=site.grid_mw(y))
            cmw, _ = _committed(site, y)
            if y < scn.start_year + lead:
                m.add_row(f"lead_time[{site.id},{y}]", total, hi=cmw)
            if cmw > 0:
                m.add_row(f"committed_mw[{site.id},{y}]", total, lo=cmw)

    # ---- accelerators: nodes added per year (whole nodes), supply caps, commitments, power envelope
    for s, site in enumerate(scn.sites):
        for a, name in enumerate(types):
            for t, y in enumerate(years):
                price = roadmap[name].years.get(y)
                avail = (price is not None and price.supply > 0) or el.supply
                committed_gpus = _committed(site, y)[1].get(name, 0) - _committed(site, y - 1)[1].get(name, 0)
                ix.nodes[s, a, t] = m.add_col(
                    f"nodes[{site.id},{name},{y}]",
                    ub=INF if avail or committed_gpus > 0 else 0.0,
                    integer=scn.settings.integer_nodes,
                )
                if not diag:
                    unit = (
                        price.price_eur if price is not None else max(p.price_eur for p in roadmap[name].years.values())
                    )
                    m.add_cost(ix.nodes[s, a, t], gpn * (unit + site.capex_eur_per_accelerator) / MEUR)
        for t, y in enumerate(years):
            _, cg = _committed(site, y)
            for name, n in cg.items():
                a = types.index(name)
                need = -(-n // gpn)
                m.add_row(
                    f"committed_gpus[{site.id},{name},{y}]", {ix.nodes[s, a, u]: 1.0 for u in range(t + 1)}, lo=need
                )
            row = {ix.nodes[s, a, u]: node_it_mw[a] for a in range(A) for u in range(t + 1)}
            for c in cooling[s]:
                row[ix.mw[s, c, t]] = -1.0 / cool_opts[c].pue
            m.add_row(f"power[{site.id},{y}]", row, hi=0.0)
    for a, name in enumerate(types):
        for t, y in enumerate(years):
            p = roadmap[name].years.get(y)
            cap = float(p.supply) if p is not None else 0.0
            row = {ix.nodes[s, a, t]: float(gpn) for s in range(S)}
            if el.supply:
                ix.slack_supply[a, t] = m.add_col(f"slack_supply[{name},{y}]", cost=1.0)
                row[ix.slack_supply[a, t]] = -1000.0
            m.add_row(f"supply[{name},{y}]", row, hi=cap)

    # ---- served work, demand met, capacity at the target utilisation
    first_avail = {}
    for a, name in enumerate(types):
        ys = [y for y, p in roadmap[name].years.items() if p.supply > 0]
        ys += [c.year for site in scn.sites for c in site.committed if c.accelerators.get(name, 0) > 0]
        first_avail[a] = years[0] if el.supply else (min(ys) if ys else years[-1] + 1)
    for t, y in enumerate(years):
        for g, seg in enumerate(segs):
            if demand[t, g] <= 0:
                continue
            drow: dict[int, float] = {}
            for s in seg.sites:
                for a in range(A):
                    if y < first_avail[a]:
                        continue
                    col = m.add_col(
                        f"served[{scn.sites[s].id},{types[a]},{y},{seg.label}]",
                        cost=0.0 if diag else premium[s, g] * MGH / MEUR,
                    )
                    ix.served[s, a, t, g] = col
                    drow[col] = thr[a, g]
            if el.demand:
                ix.slack_demand[t, g] = m.add_col(f"slack_demand[{y},{seg.label}]", cost=el.demand_weight)
                drow[ix.slack_demand[t, g]] = 1.0
            m.add_row(f"demand[{y},{seg.label}]", drow, lo=demand[t, g] / MGH)
    served_by: dict[tuple[int, int, int], list[tuple[int, int]]] = {}
    for (s, a, t, g), col in ix.served.items():
        served_by.setdefault((s, a, t), []).append((g, col))
    util = scn.target_utilisation
    for (s, a, t), cols in served_by.items():
        row = {col: 1.0 / util[segs[g].tenant_class] for g, col in cols}
        for u in range(t + 1):
            row[ix.nodes[s, a, u]] = -HOURS_PER_YEAR * gpn / MGH
        m.add_row(f"capacity[{scn.sites[s].id},{types[a]},{years[t]}]", row, hi=0.0)

    # ---- energy (IT and facility), carbon and heat
    pue_max = max(o.pue for o in cool_opts)
    for s, site in enumerate(scn.sites):
        big = pue_max * (site.max_grid_mw + big_grid) * HOURS_PER_YEAR / 1000.0  # GWh
        for t, y in enumerate(years):
            ix.eit[s, t] = m.add_col(f"eit[{site.id},{y}]")
            row = {ix.eit[s, t]: 1.0}
            for a in range(A):
                for u in range(t + 1):
                    row[ix.nodes[s, a, u]] = row.get(ix.nodes[s, a, u], 0.0) - idle[a] * gpn * HOURS_PER_YEAR / 1e9
            for a in range(A):
                for g, col in served_by.get((s, a, t), []):
                    row[col] = -(busy[a, g] - idle[a]) * MGH / 1e9
            m.add_row(f"it_energy[{site.id},{y}]", row, lo=0.0, hi=0.0)
            ix.efac[s, t] = m.add_col(f"efac[{site.id},{y}]", cost=0.0 if diag else energy_cost[s])
            for c in cooling[s]:
                m.add_row(
                    f"facility_energy[{site.id},{cool_opts[c].id},{y}]",
                    {ix.efac[s, t]: 1.0, ix.eit[s, t]: -cool_opts[c].pue, ix.cool[s, c]: -big},
                    lo=-big,
                )
            if site.heat_demand_mwh_per_year > 0 and scn.heat_value_eur_per_mwh > 0 and not diag:
                ix.heat[s, t] = m.add_col(
                    f"heat[{site.id},{y}]",
                    ub=site.heat_demand_mwh_per_year / 1000.0,
                    cost=-scn.heat_value_eur_per_mwh * 1000.0 / MEUR,
                )
                m.add_row(
                    f"heat_open[{site.id},{y}]",
                    {ix.heat[s, t]: 1.0, ix.open[s, t]: -site.heat_demand_mwh_per_year / 1000.0},
                    hi=0.0,
                )
                for c in cooling[s]:
                    m.add_row(
                        f"heat_recovery[{site.id},{cool_opts[c].id},{y}]",
                        {ix.heat[s, t]: 1.0, ix.eit[s, t]: -cool_opts[c].heat_recovery_fraction, ix.cool[s, c]: big},
                        hi=big,
                    )

    # ---- capex spent per site and year (building spread over the lead time; GPUs paid when installed)
    for s, site in enumerate(scn.sites):
        lead = scn.lead_time(site)
        for t in range(T):
            ix.spend[s, t] = {}
        for t, y in enumerate(years):
            window = _spend_window(y, lead, years)
            full = lead if lead > 0 else 1
            for w in window:
                coefs = ix.spend[s, years.index(w)]
                for c in cooling[s]:
                    k = (site.capex_eur_per_mw + cool_opts[c].capex_eur_per_mw) / MEUR / full
                    coefs[ix.mw[s, c, t]] = coefs.get(ix.mw[s, c, t], 0.0) + k
                    if t > 0:
                        coefs[ix.mw[s, c, t - 1]] = coefs.get(ix.mw[s, c, t - 1], 0.0) - k
                kf = site.fixed_capex_eur / MEUR / full
                coefs[ix.open[s, t]] = coefs.get(ix.open[s, t], 0.0) + kf
                if t > 0:
                    coefs[ix.open[s, t - 1]] = coefs.get(ix.open[s, t - 1], 0.0) - kf
            for a, name in enumerate(types):
                p = roadmap[name].years.get(y)
                unit = p.price_eur if p is not None else max(q.price_eur for q in roadmap[name].years.values())
                coefs = ix.spend[s, t]
                coefs[ix.nodes[s, a, t]] = (
                    coefs.get(ix.nodes[s, a, t], 0.0) + gpn * (unit + site.capex_eur_per_accelerator) / MEUR
                )
    for t, y in enumerate(years):
        if y not in scn.budget_eur_per_year:
            continue
        row = {}
        for s in range(S):
            for col, v in ix.spend[s, t].items():
                row[col] = row.get(col, 0.0) + v
        if el.budget:
            ix.slack_budget[t] = m.add_col(f"slack_budget[{y}]", cost=1.0)
            row[ix.slack_budget[t]] = -1.0
        m.add_row(f"budget[{y}]", row, hi=scn.budget_eur_per_year[y] / MEUR)
    return m, ix
