"""The constraint checker's books across starts and stops: what it memoises (a project's grant per site)
must not hide what changes (GPU-hours used, GPUs held)."""

from __future__ import annotations

from sim_helpers import make_job, make_site

from hexagrid.domain import Fleet, Start, Tenant
from hexagrid.simulation.checker import ConstraintChecker
from hexagrid.simulation.fleetindex import FleetIndex


def _checker() -> ConstraintChecker:
    site = make_site("pub", nodes=4, gpus_per_node=4, power_mw=10.0, kind="public_supercomputer", access="academic")
    uni = Tenant.model_validate(
        {
            "id": "uni",
            "name": "Uni",
            "class": "academic",
            "max_gpus": 8,
            "projects": [{"id": "p", "allocations_gpu_h": {"pub": 10.0}}],
        }
    )
    return ConstraintChecker(FleetIndex.build(Fleet(sites=[site])), {"uni": uni})


def _start(ck: ConstraintChecker, job_id: str, gpus: int, now_s: float) -> None:
    job = make_job(job_id, 0.0, 3600.0, gpus=gpus).model_copy(update={"tenant": "uni"})
    ck.on_start(job, Start(job_id, "pub", "p0", 1, gpus), now_s, 3600.0)


def test_allocation_is_charged_on_stop_and_refused_once_spent() -> None:
    ck = _checker()
    _start(ck, "a", 4, 0.0)
    ck.on_stop("a", 7200.0)  # 4 GPUs x 2 h = 8 of the 10 GPU-h granted
    _start(ck, "b", 4, 7200.0)  # 2 GPU-h left: allowed
    ck.on_stop("b", 9000.0)  # 4 x 0.5 h: the grant is spent
    assert ck.total == 0
    _start(ck, "c", 4, 9000.0)
    assert dict(ck.counts) == {"allocation": 1}
    assert "project 'p' has no GPU-hours left on pub (granted 10.0)" in ck.summary()["examples"][0]  # type: ignore[index]


def test_tenant_cap_counts_gpus_held_and_released() -> None:
    ck = _checker()
    _start(ck, "a", 4, 0.0)
    _start(ck, "b", 4, 0.0)  # 8 held: at the cap, not over it
    assert ck.total == 0
    ck.on_stop("a", 60.0)
    _start(ck, "c", 4, 60.0)  # a's GPUs were given back
    assert ck.total == 0
    _start(ck, "d", 4, 60.0)
    assert dict(ck.counts) == {"tenant_cap": 1}
    assert "tenant uni would hold 12 GPUs > cap 8" in ck.summary()["examples"][0]  # type: ignore[index]
