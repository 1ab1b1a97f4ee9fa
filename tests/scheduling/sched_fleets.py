"""Small hand-written fleets and a dict-backed CarbonSignals for the scheduler's tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from hexagrid.domain import Fleet, JobSpec, NodePool, Resources, Site, Tenant

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC


def pool(pid: str = "p0", acc: str = "H100", gpn: int = 8, nodes: int = 4) -> NodePool:
    return NodePool(id=pid, accelerator=acc, gpus_per_node=gpn, nodes=nodes)


def site(
    sid: str,
    *,
    country: str = "FR",
    zone: str | None = None,
    kind: str = "private_cloud",
    access: str = "commercial",
    tier: str = "standard",
    power_mw: float = 10.0,
    pue: float = 1.2,
    pools: Sequence[NodePool] | None = None,
    price: Mapping[str, float] | None = None,
    lat: float = 48.8,
    lon: float = 2.3,
    **extra: Any,
) -> Site:
    pools = list(pools) if pools is not None else [pool()]
    if price is None:
        price = {} if kind == "public_supercomputer" else {p.accelerator: 2.0 for p in pools}
    return Site(
        id=sid,
        name=sid,
        operator="op",
        kind=kind,
        country=country,
        region="r",
        latitude=lat,
        longitude=lon,
        grid_zone=zone or country,
        power_mw=power_mw,
        cooling="direct_liquid",
        pue=pue,
        access=access,
        tier=tier,
        pools=pools,
        price_eur_per_gpu_h=dict(price),
        **extra,
    )


def fleet(*sites: Site) -> Fleet:
    return Fleet(sites=list(sites))


def tenant(tid: str = "acme", klass: str = "commercial", **kw: Any) -> Tenant:
    return Tenant.model_validate({"id": tid, "name": tid, "class": klass, **kw})


def job(
    jid: str,
    gpus: int = 8,
    *,
    tenant: str = "acme",
    duration_s: float = 3600.0,
    submit_s: float = T0,
    accelerators: Sequence[str] = (),
    num_nodes: int = 1,
    **kw: Any,
) -> JobSpec:
    res = Resources(gpus=gpus, num_nodes=num_nodes, accelerators=tuple(accelerators))
    return JobSpec(id=jid, tenant=tenant, resources=res, expected_duration_s=duration_s, submit_s=submit_s, **kw)


class DictSignals:
    """CarbonSignals over hourly values per zone starting at ``start_s`` (a test double of the protocol)."""

    def __init__(self, hourly: Mapping[str, Sequence[float]], start_s: float = T0) -> None:
        self.hourly = {z: np.asarray(v, dtype=np.float64) for z, v in hourly.items()}
        self.start_s = start_s

    def zones(self) -> frozenset[str]:
        return frozenset(self.hourly)

    def _hour(self, t_s: float) -> int:
        return int((t_s - self.start_s) // 3600)

    def intensity_g_per_kwh(self, zone: str, t_s: float) -> float:
        v = self.hourly[zone]
        return float(v[min(max(self._hour(t_s), 0), len(v) - 1)])

    def forecast_g_per_kwh(self, zone: str, issued_s: float, hours: int) -> npt.NDArray[np.float64]:
        v = self.hourly[zone]
        h = self._hour(issued_s)
        idx = np.clip(np.arange(h, h + hours), 0, len(v) - 1)
        return v[idx]
