"""The power model: one place that turns "k GPUs of type A running work of kind K" into watts.

Curve: a GPU at utilisation u in [0, 1] draws ``idle_w + (tdp_w - idle_w) * u`` (linear between idle
and board power, the model used by CloudSim and by most datacentre studies; measured GPU curves are
close to linear in SM activity). Each busy GPU also carries its share of its node's overhead (CPUs,
memory, NICs, switches, fans, power-supply losses). Facility power = IT power x PUE.

Every function works on floats and on numpy arrays alike, so the scheduler can evaluate all pools at
once. The scheduler, the simulator, accounting and the agent's estimate all call these functions.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import numpy.typing as npt

from hexagrid.domain.accelerators import Accelerator
from hexagrid.domain.kinds import Cooling, JobKind

__all__ = [
    "DEFAULT_PUE_BY_COOLING",
    "DEFAULT_UTILISATION",
    "busy_gpu_it_power_w",
    "facility_power_w",
    "gpu_power_w",
    "job_facility_power_w",
    "job_it_power_w",
    "node_overhead_w",
]

Num = TypeVar("Num", float, npt.NDArray[np.float64])

#: Default GPU utilisation per workload kind (fraction of the idle→board-power span).
#: Training: FACTS.md — an 8xH100 node training draws ~76% of its 10.2 kW rating, peaking at ~8.4 kW
#: (arXiv 2412.08602, 2506.14551); u = 0.85 with the node overhead below gives 7.73 kW (75.8%).
#: Inference: FACTS.md — LLM decode on H200 draws 137-300 W of 700 W; the midpoint 220 W is u ≈ 0.23.
#: Fine-tuning sits between (estimate); batch data processing is lighter still (estimate).
DEFAULT_UTILISATION: dict[JobKind, float] = {
    JobKind.TRAINING: 0.85,
    JobKind.FINE_TUNING: 0.75,
    JobKind.INFERENCE: 0.23,
    JobKind.BATCH: 0.50,
}

#: Default PUE per cooling type — labelled estimates from FACTS.md: the industry average is 1.56-1.58
#: (Uptime Institute, mostly air-cooled halls); new large sites reach <= 1.3; liquid cooling lower still.
DEFAULT_PUE_BY_COOLING: dict[Cooling, float] = {
    Cooling.AIR: 1.55,
    Cooling.DIRECT_LIQUID: 1.20,
    Cooling.CLOSED_LOOP_WATER: 1.15,
    Cooling.IMMERSION: 1.08,
}

#: Node overhead: a fixed part per node plus a part per GPU slot (estimate). An 8-GPU HGX H100 node is
#: rated 10.2 kW with 5.6 kW of GPUs (FACTS.md); at load its host side draws about 2.9 kW.
NODE_BASE_W = 400.0
NODE_PER_GPU_SLOT_W = 310.0


def gpu_power_w(tdp_w: Num, idle_w: Num, utilisation: Num | float) -> Num:
    """One GPU's draw at ``utilisation`` (clipped to [0, 1])."""
    u = np.clip(utilisation, 0.0, 1.0)
    return idle_w + (tdp_w - idle_w) * u  # type: ignore[no-any-return]


def node_overhead_w(gpus_per_node: Num) -> Num:
    """Host-side draw of a busy node with ``gpus_per_node`` GPU slots."""
    return NODE_BASE_W + NODE_PER_GPU_SLOT_W * gpus_per_node  # type: ignore[return-value]


def busy_gpu_it_power_w(tdp_w: Num, idle_w: Num, gpus_per_node: Num, utilisation: Num | float) -> Num:
    """IT watts per busy GPU: the GPU itself plus its share of the node's overhead."""
    return gpu_power_w(tdp_w, idle_w, utilisation) + node_overhead_w(gpus_per_node) / gpus_per_node  # type: ignore[no-any-return]


def job_it_power_w(accelerator: Accelerator, gpus: int, gpus_per_node: int, kind: JobKind,
                   utilisation: float | None = None) -> float:
    """IT power of a job holding ``gpus`` GPUs on nodes of ``gpus_per_node`` slots."""
    u = DEFAULT_UTILISATION[kind] if utilisation is None else utilisation
    return float(gpus * busy_gpu_it_power_w(accelerator.tdp_w, accelerator.idle_w, float(gpus_per_node), u))


def facility_power_w(it_power_w: Num, pue: Num | float) -> Num:
    """Facility power: IT power times the site's PUE (cooling and power distribution)."""
    return it_power_w * pue  # type: ignore[return-value]


def job_facility_power_w(accelerator: Accelerator, gpus: int, gpus_per_node: int, kind: JobKind, pue: float,
                         utilisation: float | None = None) -> float:
    """Facility power of a job: what counts against a site's envelope."""
    return float(facility_power_w(job_it_power_w(accelerator, gpus, gpus_per_node, kind, utilisation), pue))
