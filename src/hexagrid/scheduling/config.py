"""Scheduler policy: queue order, backfill, placement objective weights, deferral and preemption.

A pydantic model so a bad value fails with the field, the value and what is accepted. The named
presets are the policies the simulator compares.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hexagrid.errors import NotFound

__all__ = ["ObjectiveWeights", "SchedulerConfig"]


class ObjectiveWeights(BaseModel):
    """Weights of the ``balanced`` objective; each term is first divided by its fleet-wide maximum."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cost: float = Field(default=1.0, ge=0, le=1000)
    carbon: float = Field(default=1.0, ge=0, le=1000)
    time: float = Field(default=1.0, ge=0, le=1000)


class SchedulerConfig(BaseModel):
    """How a pass orders, places, backfills, defers and preempts.

    ``backfill``: ``none`` keeps strict order (the first job blocked on capacity or power holds every
    later job); ``greedy`` starts every job that fits, in order, with no reservation (big jobs can
    starve); ``easy`` gives the first blocked job a reservation and starts later jobs only if they do
    not delay it (EASY backfill, as Slurm's backfill plugin does for its top job).
    ``placement``: ``first_fit`` takes the lowest-indexed eligible pool; ``objective`` scores pools
    by the job's objective (cost, carbon, time or balanced) with best-fit packing as tie-break.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    queue_order: Literal["fifo", "priority", "multifactor"] = "multifactor"
    backfill: Literal["none", "greedy", "easy"] = "easy"
    placement: Literal["first_fit", "objective"] = "objective"
    carbon_deferral: bool = True
    preemption: bool = True
    objective_weights: ObjectiveWeights = Field(default_factory=ObjectiveWeights)
    # multifactor priority (Slurm's classic multifactor plugin: weighted sum of factors in [0, 1])
    fair_share_half_life_s: float = Field(default=7 * 86400.0, gt=0, le=365 * 86400.0)
    weight_age: float = Field(default=1000.0, ge=0)
    weight_fair_share: float = Field(default=10000.0, ge=0)
    weight_qos: float = Field(default=1000.0, ge=0)
    max_age_s: float = Field(default=7 * 86400.0, gt=0, description="age at which the age factor reaches 1")
    # carbon-aware deferral
    deferral_horizon_h: int = Field(default=24, ge=1, le=168)
    deferral_min_gain: float = Field(
        default=0.05, ge=0, lt=1, description="defer only if the window is this much greener"
    )
    # inference near its users (estimate: 1 ms round trip per 100 km of fibre + a fixed base)
    latency_base_ms: float = Field(default=5.0, ge=0)
    latency_ms_per_100km: float = Field(default=1.0, ge=0)
    inference_distance_weight: float = Field(default=1.0, ge=0)
    # preemption
    max_preemptions_per_pass: int = Field(default=64, ge=0, le=100_000)
    preemption_min_run_s: float = Field(
        default=1800.0,
        ge=0,
        le=7 * 86400.0,
        description="a job that started less than this long ago is never a victim (stops eviction ping-pong)",
    )

    @classmethod
    def preset_names(cls) -> list[str]:
        return list(_PRESETS)

    @classmethod
    def preset(cls, name: str) -> SchedulerConfig:
        """A named policy: ``fifo``, ``backfill`` or ``hexagrid``."""
        try:
            return cls(**_PRESETS[name])
        except KeyError:
            raise NotFound(f"scheduler preset {name!r} does not exist; presets: {', '.join(_PRESETS)}") from None


_PRESETS: dict[str, dict[str, object]] = {
    "fifo": {
        "queue_order": "fifo",
        "backfill": "none",
        "placement": "first_fit",
        "carbon_deferral": False,
        "preemption": False,
    },
    "backfill": {
        "queue_order": "fifo",
        "backfill": "easy",
        "placement": "first_fit",
        "carbon_deferral": False,
        "preemption": False,
    },
    "hexagrid": {
        "queue_order": "multifactor",
        "backfill": "easy",
        "placement": "objective",
        "carbon_deferral": True,
        "preemption": True,
    },
}
