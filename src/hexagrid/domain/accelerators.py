"""Accelerators and the built-in catalog.

Throughput is relative to the reference accelerator :data:`REFERENCE_ACCELERATOR` (A100 SXM 80 GB = 1.0),
separately for training and for inference. Board power (``tdp_w``) is from vendor specifications as
listed in FACTS.md; idle power and relative throughput are labelled estimates (see ``estimates``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from hexagrid.errors import NotFound

__all__ = ["CATALOG", "REFERENCE_ACCELERATOR", "Accelerator", "get_accelerator", "runtime_s"]

REFERENCE_ACCELERATOR = "A100"


class Accelerator(BaseModel):
    """One accelerator model. ``tdp_w`` is board power; ``idle_w`` its draw with nothing running."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=32)
    vendor: str = Field(min_length=1)
    memory_gb: float = Field(gt=0, le=4096)
    tdp_w: float = Field(gt=0, le=5000)
    idle_w: float = Field(ge=0, le=5000)
    training_throughput: float = Field(gt=0, le=100, description=f"relative to {REFERENCE_ACCELERATOR} = 1.0")
    inference_throughput: float = Field(gt=0, le=100, description=f"relative to {REFERENCE_ACCELERATOR} = 1.0")
    estimates: dict[str, str] = Field(default_factory=dict, description="field -> reasoning, for estimates")


def _acc(
    name: str, vendor: str, mem: float, tdp: float, idle: float, train: float, infer: float, estimates: dict[str, str]
) -> Accelerator:
    return Accelerator(
        name=name,
        vendor=vendor,
        memory_gb=mem,
        tdp_w=tdp,
        idle_w=idle,
        training_throughput=train,
        inference_throughput=infer,
        estimates=estimates,
    )


_IDLE = "estimate: idle draw of an SXM board in a busy node is roughly 10-15% of board power"
_MLPERF = "estimate: ratio of vendor MLPerf Training/Inference results against A100, rounded down"

#: The built-in catalog, keyed by name. Board power from FACTS.md (vendor specifications).
CATALOG: dict[str, Accelerator] = {
    a.name: a
    for a in (
        _acc(
            "V100",
            "nvidia",
            32,
            300,
            40,
            0.45,
            0.35,
            {
                "idle_w": _IDLE,
                "training_throughput": _MLPERF,
                "inference_throughput": _MLPERF,
                "tdp_w": "vendor specification, V100 SXM2 (not in FACTS.md)",
            },
        ),
        _acc("A100", "nvidia", 80, 400, 55, 1.0, 1.0, {"idle_w": _IDLE}),
        _acc(
            "H100",
            "nvidia",
            80,
            700,
            75,
            2.5,
            3.0,
            {"idle_w": _IDLE, "training_throughput": _MLPERF, "inference_throughput": _MLPERF},
        ),
        _acc(
            "H200",
            "nvidia",
            141,
            700,
            75,
            2.9,
            4.2,
            {
                "idle_w": _IDLE,
                "training_throughput": _MLPERF + "; larger HBM helps training a little",
                "inference_throughput": _MLPERF + "; 1.4x H100 on memory-bound LLM decode",
            },
        ),
        _acc(
            "B200",
            "nvidia",
            192,
            1000,
            120,
            5.5,
            10.0,
            {
                "idle_w": _IDLE,
                "training_throughput": _MLPERF + " (about 2.2x H100)",
                "inference_throughput": _MLPERF + " (FP4 decode, about 3x H100)",
            },
        ),
        _acc(
            "MI300X",
            "amd",
            192,
            750,
            90,
            2.3,
            3.2,
            {
                "idle_w": _IDLE,
                "training_throughput": _MLPERF + " (close to H100)",
                "inference_throughput": _MLPERF + " (large HBM, close to H200 on decode)",
            },
        ),
        _acc(
            "L40S",
            "nvidia",
            48,
            350,
            35,
            0.8,
            1.2,
            {
                "idle_w": _IDLE,
                "training_throughput": _MLPERF + " (PCIe, no NVLink: weaker at training)",
                "inference_throughput": _MLPERF,
                "tdp_w": "vendor specification, L40S PCIe (not in FACTS.md)",
            },
        ),
    )
}


def get_accelerator(name: str, catalog: dict[str, Accelerator] | None = None) -> Accelerator:
    """Look up an accelerator by name; the error lists the names that exist."""
    cat = CATALOG if catalog is None else catalog
    try:
        return cat[name]
    except KeyError:
        raise NotFound(f"accelerator {name!r} is not in the catalog; known: {', '.join(sorted(cat))}") from None


def runtime_s(reference_duration_s: float, accelerator: Accelerator, inference: bool = False) -> float:
    """How long work that takes ``reference_duration_s`` on the reference accelerator takes on ``accelerator``.

    Scales by relative throughput (training throughput, or inference throughput for inference work):
    the runtime model shared by the scheduler's reservations, the simulator and the planner.
    """
    ref = CATALOG[REFERENCE_ACCELERATOR]
    if inference:
        return reference_duration_s * ref.inference_throughput / accelerator.inference_throughput
    return reference_duration_s * ref.training_throughput / accelerator.training_throughput
