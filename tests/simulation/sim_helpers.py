"""A tiny hand-made fleet and a scripted scheduler double, to pin the driver's semantics exactly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hexagrid.domain import JobSpec, NotNow, Resources, Site, Tenant

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC


def make_site(
    site_id: str = "lab",
    country: str = "FR",
    nodes: int = 2,
    gpus_per_node: int = 4,
    accelerator: str = "A100",
    power_mw: float = 1.0,
    **extra: Any,
) -> Site:
    fields: dict[str, Any] = {
        "id": site_id,
        "name": site_id,
        "operator": "test",
        "kind": "private_cloud",
        "country": country,
        "region": "test",
        "latitude": 48.7,
        "longitude": 2.2,
        "grid_zone": "FR" if country == "FR" else country,
        "power_mw": power_mw,
        "cooling": "direct_liquid",
        "pue": 1.2,
        "access": "both",
        "price_eur_per_gpu_h": {accelerator: 2.0},
        "pools": [{"id": "p0", "accelerator": accelerator, "gpus_per_node": gpus_per_node, "nodes": nodes}],
    }
    fields.update(extra)
    return Site.model_validate(fields)


def make_job(job_id: str, submit: float, duration: float, gpus: int = 4, **extra: Any) -> JobSpec:
    return JobSpec(
        id=job_id,
        tenant="acme",
        resources=Resources(gpus=gpus),
        submit_s=T0 + submit,
        expected_duration_s=duration,
        **extra,
    )


TENANTS = [Tenant.model_validate({"id": "acme", "name": "Acme", "class": "commercial"})]


class Scripted:
    """A scheduler double: at each pass, ``script(state, queue, now_s)`` returns decisions; the rest wait."""

    def __init__(self, script: Callable[[Any, list[JobSpec], float], list[Any]]) -> None:
        self.script = script
        self.calls: list[tuple[float, list[str]]] = []

    def decide(
        self, state: Any, queue: list[JobSpec], signals: Any, now_s: float, *, explain_waiting: bool = True
    ) -> list[Any]:
        self.calls.append((now_s - T0, [j.id for j in queue]))
        out = list(self.script(state, queue, now_s))
        named = {d.job_id for d in out}
        out += [NotNow(j.id, "capacity", "waiting") for j in queue if j.id not in named]  # type: ignore[arg-type]
        return out
