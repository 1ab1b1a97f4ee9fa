"""Usage of each job attempt: GPU-hours, energy (kWh), carbon (gCO2), cost (EUR) and heat reused (kWh).

Energy is an estimate from the one power model (``hexagrid.energy.power.job_facility_power_w``: the
job's GPUs at the default utilisation of its kind, node overhead, times the site's PUE) over the
attempt's wall time; carbon is that energy times the grid intensity of the site's zone from the
server's carbon signals (none configured: 0, flagged ``carbon_source: none``); cost is GPU-hours times the
site's price for the accelerator; heat reused is the facility energy times the site's heat-reuse fraction.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hexagrid.domain import CATALOG, JobKind
from hexagrid.domain import Site as DomainSite
from hexagrid.energy.power import job_facility_power_w
from hexagrid.server.models import Job, Site, UsageRecord

__all__ = ["attempt_usage", "record_usage", "running_usage", "set_carbon_signals"]

_signals: Any = None


def set_carbon_signals(signals: Any) -> None:
    """The carbon signals the scheduling loop uses (an object with ``intensity_g_per_kwh(zone, t_s)``)."""
    global _signals
    _signals = signals


def attempt_usage(
    *, site: DomainSite, pool_id: str, kind: str, gpus: int, start_s: float, end_s: float
) -> dict[str, float]:
    pool = next((p for p in site.pools if p.id == pool_id), site.pools[0])
    acc = CATALOG[pool.accelerator]
    hours = max(0.0, end_s - start_s) / 3600.0
    power_w = job_facility_power_w(acc, gpus, pool.gpus_per_node, JobKind(kind), site.pue)
    energy_kwh = power_w * hours / 1000.0
    carbon_g = 0.0
    if _signals is not None:
        try:
            carbon_g = energy_kwh * float(_signals.intensity_g_per_kwh(site.grid_zone, start_s))
        except Exception:  # zone not covered by the signals: carbon unknown rather than wrong
            carbon_g = 0.0
    return {
        "gpu_hours": gpus * hours,
        "energy_kwh": energy_kwh,
        "carbon_g": carbon_g,
        "cost_eur": gpus * hours * site.price_for(pool.accelerator),
        "heat_reused_kwh": energy_kwh * site.heat_reuse_fraction,
    }


def record_usage(s: Session, *, job: Job, end_s: float) -> None:
    """Write the usage of the job's current attempt (once; a repeat is ignored)."""
    if job.started_s is None or job.site_id is None or job.pool_id is None:
        return
    if s.get(UsageRecord, (job.id, job.attempt)) is not None:
        return
    row = s.get(Site, job.site_id)
    if row is None:
        return
    site = DomainSite.model_validate_json(row.doc)
    u = attempt_usage(site=site, pool_id=job.pool_id, kind=job.kind, gpus=job.gpus, start_s=job.started_s, end_s=end_s)
    s.add(
        UsageRecord(
            job_id=job.id,
            attempt=job.attempt,
            org_id=job.org_id,
            project=job.project,
            site_id=job.site_id,
            start_s=job.started_s,
            end_s=end_s,
            energy_source="estimate",
            **u,
        )
    )


def running_usage(s: Session, *, org_id: str) -> dict[str, Any]:
    """What the tenant's running jobs have used so far (estimate, not yet billed)."""
    now = time.time()
    sites: dict[str, DomainSite] = {}
    tot = {"jobs": 0, "gpus": 0, "gpu_hours": 0.0, "energy_kwh": 0.0, "carbon_g": 0.0, "cost_eur": 0.0}
    for job in s.execute(select(Job).where(Job.org_id == org_id, Job.state == "running")).scalars():
        if job.started_s is None or job.site_id is None or job.pool_id is None:
            continue
        if job.site_id not in sites:
            row = s.get(Site, job.site_id)
            if row is None:
                continue
            sites[job.site_id] = DomainSite.model_validate_json(row.doc)
        u = attempt_usage(
            site=sites[job.site_id], pool_id=job.pool_id, kind=job.kind, gpus=job.gpus, start_s=job.started_s, end_s=now
        )
        tot["jobs"] += 1
        tot["gpus"] += job.gpus
        for k in ("gpu_hours", "energy_kwh", "carbon_g", "cost_eur"):
            tot[k] += u[k]
    return tot


def spec_of(job: Job) -> dict[str, Any]:
    return json.loads(job.spec_json)
