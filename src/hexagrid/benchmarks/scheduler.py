"""The scheduler benchmark: one full pass over a national-scale synthetic fleet and queue.

The mix (all drawn from one seeded ``numpy.random.Generator``, so a seed gives the same fleet,
queue and figures' inputs):

* fleet: ``max(48, gpus / 10,000)`` sites — about 10% public supercomputers (academic only), 70%
  private clouds, 20% enterprise idle capacity with weekly windows; countries FR (60%), DE, NL, ES,
  SE, PL, IT, BE and GB (outside the EU); tiers standard / eu_sovereign / secnumcloud; 4-6 pools per
  site (H100, H200, B200, A100, MI300X on 8-GPU nodes; L40S on 4-GPU nodes); site sizes lognormal,
  scaled to ``gpus`` in total; envelopes sized at 0.75-1.3x the site's full-load facility power so
  some sites run out of megawatts before GPUs;
* tenants: 12 academic (projects with allocations on every public site) and 36 commercial, some
  with GPU caps and carbon flexibility;
* running: the fleet is first filled with running jobs until the queue asks for about twice the
  free GPUs, so reservations have walltimes to work with;
* queue: ``pending`` jobs of 1-1,024 GPUs (mostly small, a long tail of gangs), residency
  FR/EU/ANY, accelerator sets, minimum tiers, price caps, deadlines, inference latency targets
  for users in twelve metropolitan areas,
  preemptible and priority mixes, submitted over the previous two days.

Two passes over the same state and queue: the plain pass (``backfill='greedy'``: every job that fits
starts) and the EASY backfill pass (the ``hexagrid`` preset), each by a fresh ``Scheduler`` given the
list of JobSpecs, so each pays for deriving the 100,000 job rows and the signatures' pool masks. Wall
time is ``time.perf_counter`` around ``decide``, CPU time ``time.process_time`` (the pass is
single-threaded, so on a shared machine CPU time is the fairer figure for "one core"); peak RSS from
``resource.getrusage``. ``warm_wall_s`` / ``warm_cpu_s`` time the plain pass once more by the same
``Scheduler`` over the same list: the rows and signature entries it keeps are reused, as in a live
controller's next pass over a queue that has not changed (the decisions are the same).
"""

from __future__ import annotations

import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hexagrid import _native
from hexagrid.domain import (
    Decision,
    Defer,
    Fleet,
    InferenceSpec,
    JobSpec,
    NodePool,
    NotNow,
    Preempt,
    Project,
    Resources,
    Site,
    Start,
    Tenant,
)
from hexagrid.errors import InputError
from hexagrid.scheduling import ClusterState, Scheduler, SchedulerConfig

__all__ = ["BenchResult", "SyntheticSignals", "run_scheduler_bench", "synthetic_fleet", "synthetic_queue"]

#: 2026-01-03 12:00 UTC, a Saturday: enterprise windows ('Sat-Sun 00:00-24:00') are open.
BENCH_NOW_S = 1_767_441_600.0

_COUNTRIES = [
    ("FR", "FR", 48.8, 2.3),
    ("DE", "DE", 50.1, 8.7),
    ("NL", "NL", 52.4, 4.9),
    ("ES", "ES", 40.4, -3.7),
    ("SE", "SE-SE3", 59.3, 18.1),
    ("PL", "PL", 52.2, 21.0),
    ("IT", "IT-NO", 45.5, 9.2),
    ("BE", "BE", 50.8, 4.4),
    ("GB", "GB", 51.5, -0.1),
]
_COUNTRY_P = [0.6, 0.1, 0.06, 0.05, 0.05, 0.04, 0.04, 0.03, 0.03]
#: 2022 life-cycle means (FACTS.md: FR 99.4, DE 482, PL 819, ES 212, GB 235, NL 398, SE-SE3 23); IT, BE estimates.
_MEAN_G = {"FR": 99.4, "DE": 482, "NL": 398, "ES": 212, "SE-SE3": 23, "PL": 819, "IT-NO": 300, "BE": 160, "GB": 235}
_ACCS = [("H100", 8, 2.4), ("H200", 8, 3.0), ("B200", 8, 5.0), ("A100", 8, 1.3), ("MI300X", 8, 2.2), ("L40S", 4, 0.9)]
#: Where inference users are: the largest French and European metropolitan areas.
_METROS = [
    ("Ile-de-France", 48.86, 2.35),
    ("Lyon", 45.76, 4.84),
    ("Marseille", 43.30, 5.37),
    ("Toulouse", 43.60, 1.44),
    ("Lille", 50.63, 3.06),
    ("Bordeaux", 44.84, -0.58),
    ("Nantes", 47.22, -1.55),
    ("Strasbourg", 48.57, 7.75),
    ("Berlin", 52.52, 13.40),
    ("Madrid", 40.42, -3.70),
    ("Amsterdam", 52.37, 4.90),
    ("Milan", 45.46, 9.19),
]
_SIZES = np.array([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])
_SIZE_P = np.array([0.35, 0.2, 0.18, 0.2, 0.04, 0.02, 0.006, 0.0025, 0.001, 0.0004, 0.0001])


class SyntheticSignals:
    """Hourly intensity per zone: a zone mean with a daily swing (greener at night and midday), seeded noise."""

    def __init__(self, zones: list[str], start_s: float, hours: int, rng: np.random.Generator) -> None:
        self.start_s = start_s
        t = np.arange(hours)
        self.hourly: dict[str, npt.NDArray[np.float64]] = {}
        for z in sorted(zones):
            mean = _MEAN_G.get(z, 250.0)
            swing = 0.25 * np.sin(2 * np.pi * (t % 24) / 24.0 + rng.uniform(0, 2 * np.pi))
            self.hourly[z] = np.maximum(1.0, mean * (1.0 + swing + rng.normal(0, 0.05, hours)))

    def zones(self) -> frozenset[str]:
        return frozenset(self.hourly)

    def _h(self, t_s: float) -> int:
        return int((t_s - self.start_s) // 3600)

    def intensity_g_per_kwh(self, zone: str, t_s: float) -> float:
        v = self.hourly[zone]
        return float(v[min(max(self._h(t_s), 0), len(v) - 1)])

    def forecast_g_per_kwh(self, zone: str, issued_s: float, hours: int) -> npt.NDArray[np.float64]:
        v = self.hourly[zone]
        idx = np.clip(np.arange(self._h(issued_s), self._h(issued_s) + hours), 0, len(v) - 1)
        return v[idx]


def synthetic_fleet(gpus: int, rng: np.random.Generator) -> tuple[Fleet, list[Tenant]]:
    """A national fleet of about ``gpus`` GPUs (see the module docstring for the mix)."""
    n_sites = max(48, gpus // 10_000)
    sizes = rng.lognormal(0.0, 0.8, n_sites)
    sizes = sizes / sizes.sum() * gpus
    kinds = rng.choice(3, size=n_sites, p=[0.1, 0.7, 0.2])
    kinds[:3] = [0, 1, 2]
    sites: list[Site] = []
    for i in range(n_sites):
        kind = ("public_supercomputer", "private_cloud", "enterprise_idle")[int(kinds[i])]
        c = int(rng.choice(len(_COUNTRIES), p=_COUNTRY_P)) if kind != "public_supercomputer" else 0
        country, zone, lat, lon = _COUNTRIES[c]
        n_pools = int(rng.integers(4, 7))
        acc_idx = rng.choice(len(_ACCS), size=n_pools, replace=False)
        shares = rng.dirichlet(np.ones(n_pools))
        pools: list[NodePool] = []
        for k, a in enumerate(acc_idx.tolist()):
            name, gpn, _ = _ACCS[a]
            nodes = max(1, round(sizes[i] * shares[k] / gpn))
            pools.append(NodePool(id=f"p{k}-{name.lower()}", accelerator=name, gpus_per_node=gpn, nodes=nodes))
        full_load_mw = sum(p.gpus for p in pools) * 1.05e3 * 1.2 / 1e6
        tier = "standard"
        if kind == "private_cloud" and country == "FR":
            tier = str(rng.choice(["standard", "eu_sovereign", "secnumcloud"], p=[0.5, 0.3, 0.2]))
        elif kind == "private_cloud" and country != "GB":
            tier = str(rng.choice(["standard", "eu_sovereign"], p=[0.7, 0.3]))
        price = (
            {}
            if kind == "public_supercomputer"
            else {_ACCS[a][0]: round(_ACCS[a][2] * float(rng.uniform(0.8, 1.3)), 2) for a in acc_idx.tolist()}
        )
        sites.append(
            Site(
                id=f"s{i:03d}",
                name=f"site {i}",
                operator=f"op{i % 17}",
                kind=kind,
                country=country,
                region="r",
                latitude=lat + float(rng.normal(0, 1.5)),
                longitude=lon + float(rng.normal(0, 1.5)),
                grid_zone=zone,
                power_mw=max(0.5, full_load_mw * float(rng.uniform(0.75, 1.3))),
                cooling="direct_liquid",
                pue=round(float(rng.uniform(1.1, 1.4)), 2),
                access="academic"
                if kind == "public_supercomputer"
                else ("both" if rng.random() < 0.3 else "commercial"),
                tier=tier,
                pools=pools,
                price_eur_per_gpu_h=price,
                availability="Mon-Fri 19:00-07:00; Sat-Sun 00:00-24:00" if kind == "enterprise_idle" else None,
            )
        )
    public = [s.id for s in sites if s.kind.value == "public_supercomputer"]
    tenants: list[Tenant] = []
    for t in range(48):
        academic = t < 12
        projects = (
            [
                Project(id=f"proj{k}", allocations_gpu_h={s: float(rng.uniform(1e4, 5e6)) for s in public})
                for k in range(2)
            ]
            if academic
            else []
        )
        tenants.append(
            Tenant.model_validate(
                {
                    "id": f"t{t:02d}",
                    "name": f"tenant {t}",
                    "class": "academic" if academic else "commercial",
                    "fair_share_weight": float(rng.choice([1.0, 2.0, 4.0])),
                    "max_gpus": int(rng.choice([2048, 8192])) if rng.random() < 0.2 else None,
                    "flexibility_h": 12.0 if rng.random() < 0.2 else 0.0,
                    "projects": projects,
                }
            )
        )
    return Fleet(sites=sites), tenants


def synthetic_queue(
    n: int, tenants: list[Tenant], now_s: float, rng: np.random.Generator, prefix: str = "q"
) -> list[JobSpec]:
    """``n`` mixed jobs (see the module docstring)."""
    gpus = rng.choice(_SIZES, size=n, p=_SIZE_P / _SIZE_P.sum())
    dur = np.clip(rng.lognormal(np.log(7200), 1.0, n), 300, 7 * 86400)
    kinds = rng.choice(4, size=n, p=[0.5, 0.2, 0.15, 0.15])
    res = rng.choice(3, size=n, p=[0.3, 0.3, 0.4])
    tix = rng.integers(0, len(tenants), size=n)
    u = rng.random((n, 8))
    acc_names = [a[0] for a in _ACCS]
    jobs: list[JobSpec] = []
    for i in range(n):
        g = int(gpus[i])
        kind = ("training", "fine_tuning", "inference", "batch")[int(kinds[i])]
        t = tenants[int(tix[i])]
        d = float(dur[i])
        accs: tuple[str, ...] = ()
        if u[i, 0] < 0.5:
            accs = tuple(sorted(rng.choice(acc_names, size=int(rng.integers(1, 4)), replace=False).tolist()))
            if g >= 8 and accs == ("L40S",):
                accs = ("H100", "L40S")
        submit = now_s - float(u[i, 1]) * 2 * 86400
        spec: dict[str, Any] = {
            "id": f"{prefix}{i:06d}",
            "tenant": t.id,
            "kind": kind,
            "resources": Resources(gpus=g, num_nodes=g // 8 if g > 8 else 1, accelerators=accs),
            "submit_s": submit,
            "expected_duration_s": d,
            "walltime_s": d * float(1 + u[i, 2]),
            "residency": ("FR", "EU", "ANY")[int(res[i])],
            "priority": int(rng.integers(-10, 11)),
            "preemptible": bool(u[i, 3] < 0.3),
            "checkpoint_interval_s": 1800.0 if u[i, 3] < 0.3 else None,
        }
        if t.projects:
            spec["project"] = t.projects[int(u[i, 4] * len(t.projects))].id
        if u[i, 5] < 0.05:
            spec["min_tier"] = "secnumcloud"
        elif u[i, 5] < 0.15:
            spec["min_tier"] = "eu_sovereign"
        if u[i, 6] < 0.2:
            spec["max_price_eur_per_gpu_h"] = float(round(rng.uniform(1.0, 4.0), 1))
        if u[i, 7] < 0.3:
            spec["deadline_s"] = now_s + d * 1.5 + float(rng.uniform(3600, 86400))
        if kind == "inference":
            region, lat, lon = _METROS[int(rng.integers(len(_METROS)))]
            spec["inference"] = InferenceSpec(
                users_latitude=lat,
                users_longitude=lon,
                users_region=region,
                latency_target_ms=float(rng.choice([15.0, 30.0, 60.0])),
            )
        jobs.append(JobSpec(**spec))
    return jobs


def _prefill(
    state: ClusterState, tenants: list[Tenant], target_busy: float, now_s: float, rng: np.random.Generator
) -> int:
    """Start running jobs (bypassing the queue) until ``target_busy`` of the GPUs are busy."""
    ix = state.ix
    want = int(state.total_gpus * target_busy)
    commercial = [t for t in tenants if t.tenant_class.value == "commercial" and t.max_gpus is None]
    academic = [t for t in tenants if t.tenant_class.value == "academic"]
    busy, k = 0, 0
    order = rng.permutation(ix.n_pools)
    for p in order.tolist():
        s = int(ix.pool_site[p])
        quota = int(ix.pool_gpus[p] * target_busy)
        used = 0
        gpn = int(ix.pool_gpn[p])
        public = bool(ix.pool_public[p])
        while used + gpn <= quota and busy < want:
            nodes = min(int(rng.integers(1, 5)), (quota - used) // gpn)
            t = academic[k % len(academic)] if public else commercial[k % len(commercial)]
            d = float(rng.uniform(600, 12 * 3600))
            job = JobSpec(
                id=f"run{k:06d}",
                tenant=t.id,
                project=t.projects[0].id if t.projects else None,
                resources=Resources(gpus=nodes * gpn, num_nodes=nodes, gpus_per_node=gpn),
                expected_duration_s=d,
                walltime_s=d * 1.5,
                submit_s=now_s - 3600,
                preemptible=bool(rng.random() < 0.3),
                priority=int(rng.integers(-10, 0)),
            )
            start = Start(job.id, ix.site_ids[s], ix.pool_ids[p], nodes, gpn)
            if state.site_draw_w[s] + job.resources.gpus * ix.pool_w_per_gpu[0, p] > ix.site_cap_w[s]:
                break
            state.start_job(job, start, now_s - float(rng.uniform(0, 3600)))
            used += nodes * gpn
            busy += nodes * gpn
            k += 1
    return k


@dataclass
class BenchResult:
    gpus: int
    pending: int
    sites: int
    pools: int
    running: int
    free_gpus: int
    requested_gpus: int
    build_state_s: float
    decisions: int
    placed: int
    wall_s: float
    decisions_per_s: float
    cpu_s: float
    decisions_per_cpu_s: float
    backfill_decisions: int
    backfill_placed: int
    backfill_wall_s: float
    backfill_cpu_s: float
    backfill_reasons: dict[str, int]
    warm_wall_s: float
    warm_cpu_s: float
    peak_rss_mb: float
    seed: int
    compiled: bool  # the mypyc-compiled hot modules ran (hexagrid._native), so figures say which build made them

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _count(decisions: list[Decision]) -> tuple[int, int, Counter[str]]:
    placed = sum(1 for d in decisions if isinstance(d, Start))
    reasons: Counter[str] = Counter()
    for d in decisions:
        if isinstance(d, NotNow | Defer):
            reasons[d.reason.value] += 1
        elif isinstance(d, Preempt):
            reasons["preempt:" + d.reason.value] += 1
    return len([d for d in decisions if not isinstance(d, Preempt)]), placed, reasons


def _peak_rss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024.0 / 1024.0 if sys.platform == "darwin" else rss / 1024.0


def run_scheduler_bench(
    gpus: int = 500_000, pending: int = 100_000, seed: int = 0, progress: Any = None
) -> BenchResult:
    """Build the synthetic fleet and queue, run the plain and the EASY backfill pass, and measure them."""
    if gpus < 1000:
        raise InputError(f"--gpus must be at least 1000 for a fleet of 48 sites, got {gpus}")
    if pending < 1:
        raise InputError(f"--pending must be at least 1, got {pending}")
    rng = np.random.default_rng(seed)
    step = progress or (lambda _msg: None)
    step("fleet")
    fleet, tenants = synthetic_fleet(gpus, rng)
    t0 = time.perf_counter()
    state = ClusterState.from_fleet(fleet, tenants)
    build_s = time.perf_counter() - t0
    step("queue")
    queue = synthetic_queue(pending, tenants, BENCH_NOW_S, rng)
    requested = sum(j.resources.gpus for j in queue)
    target_busy = float(np.clip(1.0 - requested / (2.0 * state.total_gpus), 0.0, 0.85))
    step("running jobs")
    _prefill(state, tenants, target_busy, BENCH_NOW_S, rng)
    signals = SyntheticSignals(state.ix.zones, BENCH_NOW_S - 86400, 24 * 10, rng)
    plain = Scheduler(SchedulerConfig.preset("hexagrid").model_copy(update={"backfill": "greedy", "preemption": False}))
    step("plain pass")
    t0, c0 = time.perf_counter(), time.process_time()
    d_plain = plain.decide(state, queue, signals, BENCH_NOW_S)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    step("plain pass again (warm)")
    t0, c0 = time.perf_counter(), time.process_time()
    plain.decide(state, queue, signals, BENCH_NOW_S)
    wall_warm, cpu_warm = time.perf_counter() - t0, time.process_time() - c0
    step("backfill pass")
    easy = Scheduler(SchedulerConfig.preset("hexagrid"))
    t0, c0 = time.perf_counter(), time.process_time()
    d_easy = easy.decide(state, queue, signals, BENCH_NOW_S)
    wall_bf, cpu_bf = time.perf_counter() - t0, time.process_time() - c0
    n_plain, placed, _ = _count(d_plain)
    n_easy, placed_bf, reasons = _count(d_easy)
    return BenchResult(
        gpus=state.total_gpus,
        pending=pending,
        sites=state.ix.n_sites,
        pools=state.ix.n_pools,
        running=len(state.running),
        free_gpus=state.free_gpus,
        requested_gpus=requested,
        build_state_s=build_s,
        decisions=n_plain,
        placed=placed,
        wall_s=wall,
        decisions_per_s=n_plain / wall if wall > 0 else 0.0,
        cpu_s=cpu,
        decisions_per_cpu_s=n_plain / cpu if cpu > 0 else 0.0,
        backfill_decisions=n_easy,
        backfill_placed=placed_bf,
        backfill_wall_s=wall_bf,
        backfill_cpu_s=cpu_bf,
        backfill_reasons=dict(sorted(reasons.items())),
        warm_wall_s=wall_warm,
        warm_cpu_s=cpu_warm,
        peak_rss_mb=_peak_rss_mb(),
        seed=seed,
        compiled=_native.status().compiled,
    )
