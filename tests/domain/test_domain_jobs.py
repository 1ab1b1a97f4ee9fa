"""Resources, InferenceSpec and JobSpec validation."""

from __future__ import annotations

import pytest
from domain_docs import job_doc
from pydantic import ValidationError

from hexagrid.domain import InferenceSpec, JobKind, JobSpec, Objective, Resources, SovereigntyTier


def test_resources_forms() -> None:
    assert Resources(gpus=4).num_nodes == 1
    gang = Resources.model_validate({"num_nodes": 4, "gpus_per_node": 8})
    assert gang.gpus == 32
    explicit = Resources.model_validate({"gpus": 16, "num_nodes": 2, "gpus_per_node": 8})
    assert explicit.gpus == 16


def test_resources_accepts() -> None:
    r = Resources(gpus=1, accelerators=("H100", "H200"))
    assert r.accepts("H100") and not r.accepts("A100")
    big = Resources(gpus=1, min_gpu_memory_gb=100)
    assert big.accepts("H200") and big.accepts("B200") and not big.accepts("H100")
    assert Resources(gpus=1).accepts("V100")


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ({"gpus": 0}, "greater than or equal to 1"),
        ({"gpus": 8, "accelerators": ["H900"]}, "unknown accelerator 'H900'"),
        ({"gpus": 10, "num_nodes": 2, "gpus_per_node": 8}, "must equal num_nodes x gpus_per_node"),
        ({"gpus": 9, "num_nodes": 2}, "must divide evenly over num_nodes"),
        ({"gpus": 8, "gpus_per_node": 17}, "less than or equal to 16"),
        ({"gpus": 8, "min_gpu_memory_gb": -1}, "greater than or equal to 0"),
        ({"gpus": 8, "gpu": 1}, "Extra inputs"),
        ({}, "Field required"),
        ({"gpus_per_node": [8]}, "valid integer"),  # not a crash: the field's own check names it
        ({"gpus_per_node": 8, "num_nodes": None}, "valid integer"),
        ({"gpus_per_node": "eight"}, "valid integer"),
    ],
)
def test_resources_bad(doc: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValidationError) as exc:
        Resources.model_validate(doc)
    assert fragment in str(exc.value)


def test_inference_spec() -> None:
    spec = InferenceSpec()
    assert spec.replicas == 1 and spec.latency_target_ms == 50
    with pytest.raises(ValidationError, match="greater than 0"):
        InferenceSpec(latency_target_ms=0)
    with pytest.raises(ValidationError, match="less than or equal to 90"):
        InferenceSpec(users_latitude=100)


def test_job_defaults_and_properties() -> None:
    job = JobSpec.model_validate(job_doc())
    assert job.kind is JobKind.TRAINING
    assert job.objective is Objective.BALANCED
    assert job.min_tier is SovereigntyTier.STANDARD
    assert job.residency.scope == "ANY"
    assert job.walltime_limit_s == 3600.0
    assert job.latest_start_s is None
    dated = JobSpec.model_validate(job_doc(submit_s=100.0, deadline_s=10_000.0, walltime_s=7200.0, residency="FR"))
    assert dated.latest_start_s == pytest.approx(10_000.0 - 3600.0)
    assert dated.walltime_limit_s == 7200.0
    assert dated.residency.allows("FR") and not dated.residency.allows("DE")
    serve = JobSpec.model_validate(job_doc(kind="inference", inference={"replicas": 3}))
    assert serve.inference is not None and serve.inference.replicas == 3


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"expected_duration_s": 0}, "greater than 0"),
        ({"walltime_s": 60.0}, "walltime_s (60.0) must be >= expected_duration_s"),
        ({"submit_s": 500.0, "deadline_s": 400.0}, "deadline_s (400.0) must be after submit_s"),
        ({"inference": {"replicas": 2}}, "an inference section needs kind: inference"),
        ({"kind": "gaming"}, "training"),
        ({"objective": "speed"}, "carbon"),
        ({"min_tier": "gold"}, "secnumcloud"),
        ({"priority": 5000}, "less than or equal to 1000"),
        ({"residency": "Mars"}, "must be FR, EU, ANY"),
        ({"tenant": ""}, "at least 1 character"),
        ({"max_price_eur_per_gpu_h": -1}, "greater than or equal to 0"),
        ({"gpu": 8}, "Extra inputs"),
    ],
)
def test_job_bad(overrides: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValidationError) as exc:
        JobSpec.model_validate(job_doc(**overrides))
    assert fragment in str(exc.value)
