"""Usage of each job attempt: GPU-hours, energy (kWh), carbon (gCO2), cost (EUR) and heat reused (kWh).

All figures come from the energy layer's own functions: IT power from the one power model
(``hexagrid.energy.power.job_it_power_w``: the job's GPUs at the default utilisation of its kind plus
node overhead — an estimate, labelled ``energy_source: estimate``) and the accounting of
``hexagrid.energy.accounting.account_job`` (facility energy = IT x PUE, carbon = facility energy x the
hourly intensity of the site's zone over the attempt, heat reused = IT energy x the site's reuse
fraction, cost = GPU-hours x price + energy cost where the site pays its own power).

Carbon: the server replays the packaged 2022 hourly data, mapped onto the live calendar by
:class:`~hexagrid.energy.calendar.CalendarMapping` (the same month, day and hour of 2022), set once at
start by :func:`configure_carbon`. A zone not in the data gives 0 gCO2 (unknown, not invented).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hexagrid.domain import CATALOG, JobKind
from hexagrid.domain import Site as DomainSite
from hexagrid.energy.accounting import account_job
from hexagrid.energy.power import job_it_power_w
from hexagrid.errors import HexagridError
from hexagrid.server.models import Job, Site, UsageRecord

__all__ = [
    "CarbonContext",
    "attempt_usage",
    "configure_carbon",
    "record_usage",
    "running_attempts",
    "running_usage",
]


@dataclass(frozen=True)
class CarbonContext:
    trace: Any  # hexagrid.energy.carbon.CarbonTrace
    calendar: Any  # hexagrid.energy.calendar.CalendarMapping
    signals: Any  # a CarbonSignals (persistence forecast) for the scheduler


_carbon: CarbonContext | None = None


def configure_carbon(source: str | None = "builtin:2022", anchor_s: float | None = None) -> CarbonContext | None:
    """Load the carbon data once per process; ``None`` disables carbon (0 gCO2, no carbon-aware deferral)."""
    global _carbon
    if source is None:
        _carbon = None
        return None
    from datetime import UTC, datetime

    from hexagrid.energy.carbon import load_carbon
    from hexagrid.energy.forecast import PersistenceForecast

    trace = load_carbon(source)
    anchor = datetime.fromtimestamp(time.time() if anchor_s is None else anchor_s, UTC)
    signals = PersistenceForecast(trace, anchor=anchor)
    _carbon = CarbonContext(trace, signals.calendar, signals)
    return _carbon


def attempt_usage(
    *, site: DomainSite, pool_id: str, kind: str, gpus: int, start_s: float, end_s: float
) -> dict[str, float]:
    pool = next((p for p in site.pools if p.id == pool_id), site.pools[0])
    acc = CATALOG[pool.accelerator]
    it_w = job_it_power_w(acc, gpus, pool.gpus_per_node, JobKind(kind))
    end_s = max(end_s, start_s)
    hours = (end_s - start_s) / 3600.0
    price = site.price_for(pool.accelerator)
    if _carbon is not None and site.grid_zone in _carbon.trace.zones:
        try:
            u = account_job(
                it_power_w=it_w,
                pue=site.pue,
                start_s=start_s,
                end_s=end_s,
                zone=site.grid_zone,
                carbon=_carbon.trace,
                calendar=_carbon.calendar,
                gpus=gpus,
                price_eur_per_gpu_h=price,
                heat_reuse_fraction=site.heat_reuse_fraction,
                energy_price_eur_per_mwh=site.energy_price_eur_per_mwh,
            )
            return {
                "gpu_hours": u.gpu_hours,
                "energy_kwh": u.facility_kwh,
                "carbon_g": u.carbon_g,
                "cost_eur": u.cost_eur,
                "heat_reused_kwh": u.heat_reused_kwh,
            }
        except HexagridError:
            pass
    it_kwh = it_w * hours / 1000.0  # no carbon data for this zone: the same quantities without carbon
    facility_kwh = it_kwh * site.pue
    energy_cost = (
        0.0 if site.energy_price_eur_per_mwh is None else facility_kwh / 1000.0 * site.energy_price_eur_per_mwh
    )
    return {
        "gpu_hours": gpus * hours,
        "energy_kwh": facility_kwh,
        "carbon_g": 0.0,
        "cost_eur": gpus * hours * price + energy_cost,
        "heat_reused_kwh": it_kwh * site.heat_reuse_fraction,
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


def running_attempts(
    s: Session, *, org_ids: Collection[str] | None = None, now: float | None = None
) -> Iterator[tuple[Job, dict[str, float]]]:
    """Each running job (of ``org_ids``, or of every organisation) with what its attempt has used up to
    ``now``, by the same :func:`attempt_usage` an ended attempt is recorded with (estimate, not yet billed)."""
    now = time.time() if now is None else now
    q = select(Job).where(Job.state == "running")
    if org_ids is not None:
        if not org_ids:
            return
        q = q.where(Job.org_id.in_(sorted(org_ids)))
    sites: dict[str, DomainSite] = {}
    for job in s.execute(q.order_by(Job.id)).scalars():
        if job.started_s is None or job.site_id is None or job.pool_id is None:
            continue
        if job.site_id not in sites:
            row = s.get(Site, job.site_id)
            if row is None:
                continue
            sites[job.site_id] = DomainSite.model_validate_json(row.doc)
        yield (
            job,
            attempt_usage(
                site=sites[job.site_id],
                pool_id=job.pool_id,
                kind=job.kind,
                gpus=job.gpus,
                start_s=job.started_s,
                end_s=now,
            ),
        )


def running_usage(s: Session, *, org_id: str, now: float | None = None) -> dict[str, Any]:
    """What the tenant's running jobs have used so far (estimate, not yet billed)."""
    tot: dict[str, Any] = {"jobs": 0, "gpus": 0, "gpu_hours": 0.0, "energy_kwh": 0.0, "carbon_g": 0.0, "cost_eur": 0.0}
    for job, u in running_attempts(s, org_ids=[org_id], now=now):
        tot["jobs"] += 1
        tot["gpus"] += job.gpus
        for k in ("gpu_hours", "energy_kwh", "carbon_g", "cost_eur"):
            tot[k] += u[k]
    return tot
