"""Tenant and Project validation: class alias, residency, flexibility opt-in, allocations, unique projects."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hexagrid.domain import Project, Tenant, TenantClass


def test_tenant_good() -> None:
    t = Tenant.model_validate(
        {
            "id": "lab",
            "name": "Lab",
            "class": "academic",
            "residency": "FR",
            "flexibility_h": 12,
            "projects": [{"id": "p1", "allocations_gpu_h": {"jean-zay": 1000}}, {"id": "p2", "budget_eur": 10}],
        }
    )
    assert t.tenant_class is TenantClass.ACADEMIC
    assert t.residency.allows("FR") and not t.residency.allows("DE")
    assert t.project("p1") is not None and t.project("p1").allocations_gpu_h == {"jean-zay": 1000}  # type: ignore[union-attr]
    assert t.project("nope") is None
    assert t.fair_share_weight == 1.0
    # populate_by_name: code may use tenant_class
    assert Tenant(id="c", name="C", tenant_class=TenantClass.COMMERCIAL).residency.scope == "ANY"


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"class": "student"}, "'academic' or 'commercial'"),
        ({"fair_share_weight": 0}, "greater than 0"),
        ({"budget_eur": -1}, "greater than or equal to 0"),
        ({"max_gpus": 0}, "greater than or equal to 1"),
        ({"flexibility_h": -1}, "greater than or equal to 0"),
        ({"flexibility_h": 24 * 15}, "less than or equal to 336"),
        ({"residency": "XX"}, "must be FR, EU, ANY"),
        ({"id": "Lab One"}, "pattern"),
        ({"projects": [{"id": "p"}, {"id": "p"}]}, "project ids must be unique within a tenant, repeated: p"),
        ({"projects": [{"id": "p", "allocations_gpu_h": {"jean-zay": -5}}]}, "must be >= 0 GPU-hours, got -5"),
        ({"projects": [{"id": "p", "colour": 1}]}, "Extra inputs"),
        ({"quota": 5}, "Extra inputs"),
    ],
)
def test_tenant_bad(overrides: dict[str, object], fragment: str) -> None:
    doc: dict[str, object] = {"id": "lab", "name": "Lab", "class": "academic"}
    doc.update(overrides)
    with pytest.raises(ValidationError) as exc:
        Tenant.model_validate(doc)
    assert fragment in str(exc.value)


def test_tenant_requires_class() -> None:
    with pytest.raises(ValidationError, match="class"):
        Tenant.model_validate({"id": "lab", "name": "Lab"})


def test_project_bad_values() -> None:
    assert Project(id="p").allocations_gpu_h == {}
    with pytest.raises(ValidationError, match="valid number"):
        Project.model_validate({"id": "p", "allocations_gpu_h": {"jean-zay": "lots"}})
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        Project.model_validate({"id": "p", "budget_eur": -3})
