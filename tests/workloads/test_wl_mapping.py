"""The attribute mapping rule: seeded and byte-identical, shares respected, domain rules kept."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from hexagrid.domain import JobKind, JobSpec, Residency, Tenant
from hexagrid.errors import InputError
from hexagrid.workloads import AttributeShares, JobTable, MappingRule, gang_shape, load_trace
from hexagrid.workloads.table import KINDS, TIERS


@pytest.fixture(scope="module")
def itp() -> JobTable:
    return load_trace("itp")


def tenant(id: str, cls: str, **kw) -> Tenant:
    return Tenant.model_validate({"id": id, "name": id, "class": cls, **kw})


TENANTS = [
    tenant("cnrs", "academic", fair_share_weight=3, projects=[{"id": "p1"}, {"id": "p2"}]),
    tenant("inria", "academic", fair_share_weight=1),
    tenant("mistral", "commercial", fair_share_weight=2),
    tenant("lighton", "commercial", fair_share_weight=2, residency="FR"),
]


def test_same_seed_byte_identical_different_seed_differs(itp: JobTable) -> None:
    rule = MappingRule()
    a = rule.apply(itp, TENANTS, seed=7)
    b = rule.apply(itp, TENANTS, seed=7)
    c = rule.apply(itp, TENANTS, seed=8)
    assert a.digest() == b.digest()
    assert a.digest() != c.digest()
    for name, arr in a.column_arrays().items():
        assert np.array_equal(arr, b.column_arrays()[name], equal_nan=arr.dtype.kind == "f"), name
    # the trace columns are untouched
    assert np.array_equal(a.gpus, itp.gpus) and np.array_equal(a.duration_s, itp.duration_s)


def test_shares_are_respected(itp: JobTable) -> None:
    m = MappingRule().apply(itp, TENANTS, seed=1)
    n = len(m)
    s = m.summary()
    assert s["tenant_class"]["academic"] / n == pytest.approx(0.3, abs=0.01)
    # within academic: fair share 3:1
    assert s["tenant"]["cnrs"] / s["tenant"]["inria"] == pytest.approx(3.0, rel=0.06)
    assert s["with_deadline"] / n == pytest.approx(0.2, abs=0.01)
    small = m.gpus <= 8
    kinds = np.bincount(m.kind[small], minlength=4) / small.sum()
    assert kinds[KINDS.index(JobKind.TRAINING)] == pytest.approx(0.45, abs=0.01)
    assert kinds[KINDS.index(JobKind.FINE_TUNING)] == pytest.approx(0.30, abs=0.01)
    # multi-node jobs are training
    assert (m.kind[m.gpus > 8] == KINDS.index(JobKind.TRAINING)).all()
    # inference is never preemptible; preemptible training/fine-tuning jobs checkpoint, others do not
    inf = m.kind == KINDS.index(JobKind.INFERENCE)
    assert not m.preemptible[inf].any()
    ck = np.isfinite(m.checkpoint_interval_s)
    trainish = np.isin(m.kind, [KINDS.index(JobKind.TRAINING), KINDS.index(JobKind.FINE_TUNING)])
    assert np.array_equal(ck, m.preemptible & trainish)
    # deadlines leave room: submit + expected x (1 + slack), slack in [0.5, 4]
    d = np.isfinite(m.deadline_s)
    slack = (m.deadline_s[d] - m.submit_s[d]) / m.expected_duration_s[d] - 1
    assert slack.min() >= 0.5 - 1e-9 and slack.max() <= 4.0 + 1e-9


def test_residency_rules(itp: JobTable) -> None:
    m = MappingRule().apply(itp, TENANTS, seed=3)
    fr = m.residencies.index(Residency(scope="FR"))
    # the FR-only tenant never gets a looser residency
    lighton = m.tenants.index("lighton")
    assert (m.residency[m.tenant == lighton] == fr).all()
    # commercial fine-tuning/inference is FR-only more often than academic work (FACTS: sensitive data)
    mistral = m.tenant == m.tenants.index("mistral")
    sensitive = mistral & np.isin(m.kind, [KINDS.index(JobKind.FINE_TUNING), KINDS.index(JobKind.INFERENCE)])
    academic = np.isin(m.tenant, [m.tenants.index("cnrs"), m.tenants.index("inria")])
    assert (m.residency[sensitive] == fr).mean() == pytest.approx(0.6, abs=0.03)
    assert (m.residency[academic] == fr).mean() == pytest.approx(0.15, abs=0.02)
    # tiers: academic jobs stay standard; SecNumCloud only for FR-only commercial jobs
    assert (m.min_tier[academic] == 0).all()
    snc = m.min_tier == TIERS.index(TIERS[2])
    assert snc.any() and (m.residency[snc] == fr).all()


def test_country_list_tenant_and_projects(itp: JobTable) -> None:
    small = itp.head(2000)
    tenants = [tenant("eu-lab", "academic", residency=["DE", "FR"], projects=[{"id": "a"}, {"id": "b"}])]
    m = MappingRule().apply(small, tenants, seed=1)
    fr = m.residencies.index(Residency(scope="FR"))
    lst = m.residencies.index(Residency.parse(["DE", "FR"]))
    assert set(np.unique(m.residency).tolist()) <= {fr, lst}
    assert m.projects == ("a", "b")
    assert set(np.unique(m.project).tolist()) == {0, 1}
    specs = m.to_jobspecs(0.0)
    assert {s.project for s in specs} == {"a", "b"}


def test_projects_weighted_by_allocation(itp: JobTable) -> None:
    tenants = [
        tenant(
            "lab",
            "academic",
            projects=[
                {"id": "big", "allocations_gpu_h": {"jz": 900}},
                {"id": "small", "allocations_gpu_h": {"jz": 100}},
            ],
        )
    ]
    m = MappingRule().apply(itp, tenants, seed=2)
    assert (m.project == 0).mean() == pytest.approx(0.9, abs=0.01)


def test_tenant_shares_override(itp: JobTable) -> None:
    rule = MappingRule(shares=AttributeShares(tenant_shares={"mistral": 1.0, "cnrs": 1.0}))
    m = rule.apply(itp.head(5000), TENANTS, seed=1)
    assert set(m.summary()["tenant"]) == {"mistral", "cnrs"}
    with pytest.raises(InputError, match=r"unknown tenant.s. nobody"):
        MappingRule(shares=AttributeShares(tenant_shares={"nobody": 1.0})).apply(itp.head(10), TENANTS, seed=1)


def test_bad_shares_are_rejected_naming_the_field() -> None:
    with pytest.raises(ValidationError, match=r"kind_shares: unknown key.s. gaming"):
        AttributeShares(kind_shares={"gaming": 1.0})
    with pytest.raises(ValidationError, match="walltime_factor"):
        AttributeShares(walltime_factor=(0.5, 1.0))
    with pytest.raises(ValidationError, match="unknown accelerator 'TPU'"):
        AttributeShares(accelerator_sets={"TPU": 1.0})
    with pytest.raises(ValidationError, match="academic_share"):
        AttributeShares(academic_share=1.5)


def test_jobspecs_are_valid_domain_objects(itp: JobTable) -> None:
    rule = MappingRule(shares=AttributeShares(walltime_factor=(1.0, 2.0), accelerator_sets={"": 0.5, "H100,H200": 0.5}))
    m = rule.apply(itp, TENANTS, seed=5)
    start = 1_767_225_600.0  # 2026-01-01
    specs = m.to_jobspecs(start)
    assert len(specs) == len(itp)
    assert [s.id for s in specs[:3]] == m.job_id[:3].tolist()
    # every spec passes full validation when rebuilt (model_construct skipped it for speed)
    for spec in specs[:: max(1, len(specs) // 3000)]:
        again = JobSpec.model_validate(spec.model_dump())
        assert again == spec
        # the fast constructor builds what pydantic's model_construct builds
        slow = JobSpec.model_construct(**dict(spec.__dict__))
        assert slow == spec and slow.model_fields_set == spec.model_fields_set
        assert slow.model_dump_json() == spec.model_dump_json()
    first = specs[0]
    assert first.submit_s == start + m.submit_s[0]
    assert first.expected_duration_s == pytest.approx(m.duration_s[0] * 0.45)
    big = next(s for s in specs if s.resources.gpus == 64)
    assert (big.resources.num_nodes, big.resources.gpus_per_node) == (8, 8)
    one = next(s for s in specs if s.resources.gpus == 4)
    assert (one.resources.num_nodes, one.resources.gpus_per_node) == (1, None)
    assert {s.resources.accelerators for s in specs} == {(), ("H100", "H200")}
    assert all(s.walltime_s is not None and s.walltime_s >= s.expected_duration_s for s in specs[:1000])


def test_unmapped_table_refuses_jobspecs(itp: JobTable) -> None:
    with pytest.raises(InputError, match="map the attributes"):
        next(itp.iter_jobspecs(0.0))


def test_gang_shape_rule() -> None:
    nodes, per_node = gang_shape(np.array([1, 4, 8, 12, 16, 24, 64, 1024]))
    assert nodes.tolist() == [1, 1, 1, 2, 2, 3, 8, 128]
    assert per_node.tolist() == [0, 0, 0, 6, 8, 8, 8, 8]


def test_reference_accelerator_conversion() -> None:
    v100 = load_trace("itp")
    a100 = load_trace("itp", reference_accelerator="A100")
    assert v100.duration_factor() == pytest.approx(0.45)
    assert a100.duration_factor() == 1.0
    assert np.array_equal(v100.expected_duration_s, v100.duration_s * 0.45)
    with pytest.raises(InputError, match="reference_accelerator: 'K80' is not in the catalog"):
        load_trace("itp", reference_accelerator="K80")


def test_empty_table_maps_and_converts(itp: JobTable) -> None:
    import gc

    empty = itp.head(0)
    m = MappingRule().apply(empty, TENANTS, seed=1)
    assert len(m) == 0 and m.to_jobspecs(0.0) == []
    assert m.summary()["jobs"] == 0
    assert gc.isenabled()


def test_id_prefix_and_start(itp: JobTable) -> None:
    m = MappingRule().apply(itp.head(10), TENANTS, seed=1)
    specs = list(m.iter_jobspecs(100.0, id_prefix="run1/"))
    assert specs[0].id == "run1/" + m.job_id[0]
    assert [s.submit_s for s in specs] == (m.submit_s + 100.0).tolist()


def test_offered_load(itp: JobTable) -> None:
    # A100 GPU-hours / (GPUs x span): ITP asks for ~510 A100s on average over its 60 days
    assert itp.offered_load(1000) == pytest.approx(734_723.9 / (1000 * itp.span_s() / 3600), rel=1e-6)
    with pytest.raises(InputError, match="gpus: must be >= 1"):
        itp.offered_load(0)


def test_jobs_go_only_to_tenants_allowed_that_many_gpus(itp: JobTable) -> None:
    tenants = [
        tenant("small-co", "commercial", fair_share_weight=5, max_gpus=8),
        tenant("big-co", "commercial", fair_share_weight=1, max_gpus=32),
        tenant("lab", "academic", fair_share_weight=1),
    ]
    m = MappingRule().apply(itp, tenants, seed=1)
    small, big, lab = (m.tenants.index(t) for t in ("small-co", "big-co", "lab"))
    assert (m.gpus[m.tenant == small] <= 8).all()
    assert (m.gpus[m.tenant == big] <= 32).all()
    # 64-GPU jobs can only go to the uncapped lab
    assert (m.tenant[m.gpus == 64] == lab).all()
    # small jobs still follow the shares: 30% academic, commercial 5:1 by fair share
    one = m.gpus == 1
    assert (m.tenant[one] == lab).mean() == pytest.approx(0.3, abs=0.01)
    with pytest.raises(InputError, match=r"a 64-GPU job has no tenant that may use that many GPUs"):
        MappingRule().apply(itp, tenants[:2], seed=1)


def test_to_arrow_decodes_labels(itp: JobTable) -> None:
    m = MappingRule().apply(itp.head(3000), TENANTS, seed=2)
    t = m.to_arrow()
    assert t.num_rows == 3000
    assert t.column("job_id").to_pylist() == m.job_id.tolist()
    assert set(t.column("tenant").to_pylist()) <= {x.id for x in TENANTS}
    assert set(t.column("residency").to_pylist()) <= {"FR", "EU", "ANY"}
    assert t.column("deadline_s").null_count == int(np.isnan(m.deadline_s).sum())
    assert t.column("cluster").to_pylist()[0].startswith("cluster")
    # projects: cnrs has p1/p2, the others none -> null
    projects = t.column("project").to_pylist()
    tenants = t.column("tenant").to_pylist()
    assert all((p is None) == (tn != "cnrs") for p, tn in zip(projects, tenants, strict=True))
    assert "tenant" not in itp.head(10).to_arrow().column_names


def test_mapping_line(itp: JobTable) -> None:
    assert "not mapped" in itp.head(5).mapping_line()
    line = MappingRule().apply(itp, TENANTS, seed=3).mapping_line()
    assert line.startswith("mapped 69,351 jobs of microsoft-itp-2021 (seed 3): academic 30% commercial 70%")
    assert "deadlines 20%" in line and "\n" not in line
