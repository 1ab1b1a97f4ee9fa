"""What a user asks for: a job's kind, resources, rules (residency, tier), timing and objective."""

from __future__ import annotations

import contextlib

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hexagrid.domain.accelerators import CATALOG
from hexagrid.domain.geography import Residency, ResidencyField
from hexagrid.domain.kinds import JobKind, Objective, SovereigntyTier

__all__ = ["InferenceSpec", "JobSpec", "Resources"]


class Resources(BaseModel):
    """GPUs as ``gpus`` total, or ``num_nodes`` x ``gpus_per_node`` for a gang across whole nodes.

    ``accelerators`` is the accepted set (empty = any); ``min_gpu_memory_gb`` admits any accelerator
    with at least that much memory. A job with ``num_nodes`` > 1 takes whole nodes in one pool.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    accelerators: tuple[str, ...] = ()
    min_gpu_memory_gb: float = Field(default=0, ge=0, le=4096)
    gpus: int = Field(ge=1, le=1_000_000)
    num_nodes: int = Field(default=1, ge=1, le=100_000)
    gpus_per_node: int | None = Field(default=None, ge=1, le=16)
    cpus: int = Field(default=0, ge=0, le=1_000_000)
    memory_gb: float = Field(default=0, ge=0, le=1e7)

    @model_validator(mode="before")
    @classmethod
    def _derive_total(cls, data: object) -> object:
        if isinstance(data, dict) and "gpus" not in data and data.get("gpus_per_node") is not None:
            # not numbers: leave gpus unset so that the fields' own checks name the bad value
            with contextlib.suppress(TypeError, ValueError):
                data = {**data, "gpus": int(data.get("num_nodes", 1)) * int(data["gpus_per_node"])}
        return data

    @model_validator(mode="after")
    def _shape(self) -> Resources:
        for a in self.accelerators:
            if a not in CATALOG:
                raise ValueError(f"unknown accelerator {a!r}; known: {', '.join(CATALOG)}")
        if self.gpus_per_node is not None and self.gpus != self.num_nodes * self.gpus_per_node:
            raise ValueError(
                f"gpus ({self.gpus}) must equal num_nodes x gpus_per_node ({self.num_nodes} x {self.gpus_per_node})"
            )
        if self.num_nodes > 1 and self.gpus % self.num_nodes:
            raise ValueError(f"gpus ({self.gpus}) must divide evenly over num_nodes ({self.num_nodes})")
        return self

    def accepts(self, accelerator: str) -> bool:
        if self.accelerators and accelerator not in self.accelerators:
            return False
        return CATALOG[accelerator].memory_gb >= self.min_gpu_memory_gb


class InferenceSpec(BaseModel):
    """An inference service: replicas near its users within a latency target."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    replicas: int = Field(default=1, ge=1, le=10_000)
    users_latitude: float = Field(default=48.86, ge=-90, le=90)
    users_longitude: float = Field(default=2.35, ge=-180, le=180)
    users_region: str = "Ile-de-France"
    latency_target_ms: float = Field(default=50, gt=0, le=10_000)


class JobSpec(BaseModel):
    """One job. Times are POSIX seconds (float, UTC); durations are seconds on the reference accelerator."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=128)
    name: str = ""
    tenant: str = Field(min_length=1)
    project: str | None = None
    kind: JobKind = JobKind.TRAINING
    resources: Resources
    submit_s: float = 0.0
    expected_duration_s: float = Field(gt=0, le=10 * 365 * 86400)
    walltime_s: float | None = Field(default=None, gt=0, le=10 * 365 * 86400)
    residency: ResidencyField = Field(default_factory=lambda: Residency(scope="ANY"))
    min_tier: SovereigntyTier = SovereigntyTier.STANDARD
    deadline_s: float | None = None
    max_price_eur_per_gpu_h: float | None = Field(default=None, ge=0)
    objective: Objective = Objective.BALANCED
    preemptible: bool = False
    checkpoint_interval_s: float | None = Field(default=None, gt=0)
    priority: int = Field(default=0, ge=-1000, le=1000, description="QoS: higher runs first")
    inference: InferenceSpec | None = None

    @model_validator(mode="after")
    def _timing(self) -> JobSpec:
        if self.walltime_s is not None and self.walltime_s < self.expected_duration_s:
            raise ValueError(
                f"walltime_s ({self.walltime_s}) must be >= expected_duration_s ({self.expected_duration_s})"
            )
        if self.deadline_s is not None and self.deadline_s <= self.submit_s:
            raise ValueError(f"deadline_s ({self.deadline_s}) must be after submit_s ({self.submit_s})")
        if self.inference is not None and self.kind is not JobKind.INFERENCE:
            raise ValueError(f"an inference section needs kind: inference, got kind: {self.kind.value}")
        return self

    @property
    def walltime_limit_s(self) -> float:
        """The walltime limit, defaulting to the expected duration (as a trace job's is)."""
        return self.walltime_s if self.walltime_s is not None else self.expected_duration_s

    @property
    def latest_start_s(self) -> float | None:
        """The last start that still meets the deadline on the reference accelerator."""
        return None if self.deadline_s is None else self.deadline_s - self.expected_duration_s
