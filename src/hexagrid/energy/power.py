"""The power model: one place that turns "k GPUs of type A running work of kind K" into watts.

Curve. A GPU at utilisation u in [0, 1] draws ``idle_w + (tdp_w - idle_w) * u``: linear between its idle
draw and its board power (the model of CloudSim and most datacentre studies; measured GPU power is close
to linear in SM activity, and u here *is* "fraction of the idle-to-board-power span", so a measured
draw converts exactly). ``u`` defaults per workload kind (:data:`DEFAULT_UTILISATION`).

Node overhead. Each busy node also powers CPUs, memory, NICs, switches, fans and power-supply losses:
``NODE_BASE_W + NODE_PER_GPU_SLOT_W * gpus_per_node`` (estimate, fitted to the HGX H100 rating below),
shared equally by its GPU slots.

Facility. Facility power = IT power x PUE, with :data:`DEFAULT_PUE_BY_COOLING` where a site gives none.

Check against FACTS.md: an 8xH100 node training at the default u = 0.85 draws
8 x (75 + 625 x 0.85) + 400 + 8 x 310 = 7,730 W = 75.8% of its 10.2 kW rating; published: "intensive
training ~76% of rated power" (7.75 kW), peak ~8.4 kW (arXiv 2412.08602, 2506.14551); 8% below the peak.

Every function works on floats and on numpy arrays alike, so the scheduler can evaluate all pools at
once. The scheduler, the simulator, accounting, the planner and the agent's estimate all call these.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import numpy.typing as npt

from hexagrid.domain.accelerators import Accelerator
from hexagrid.domain.kinds import Cooling, JobKind
from hexagrid.errors import InputError

__all__ = [
    "DEFAULT_PUE_BY_COOLING",
    "DEFAULT_UTILISATION",
    "NODE_BASE_W",
    "NODE_PER_GPU_SLOT_W",
    "busy_gpu_it_power_w",
    "default_pue",
    "facility_power_w",
    "gpu_power_w",
    "job_facility_power_w",
    "job_it_power_w",
    "node_it_power_w",
    "node_overhead_w",
    "utilisation_for",
]

Num = TypeVar("Num", float, npt.NDArray[np.float64])

#: Default GPU utilisation per workload kind (fraction of the idle→board-power span).
#: Training: FACTS.md — an 8xH100 node training draws ~76% of its 10.2 kW rating, peaking at ~8.4 kW
#: (arXiv 2412.08602, 2506.14551); u = 0.85 with the node overhead below gives 7.73 kW (75.8%).
#: Inference: FACTS.md — LLM decode on H200 draws 137-300 W of 700 W; the midpoint 220 W is u ≈ 0.23.
#: Fine-tuning sits between (estimate: shorter steps, more I/O than pre-training); batch data
#: processing is lighter still (estimate: memory- and I/O-bound).
DEFAULT_UTILISATION: dict[JobKind, float] = {
    JobKind.TRAINING: 0.85,
    JobKind.FINE_TUNING: 0.75,
    JobKind.INFERENCE: 0.23,
    JobKind.BATCH: 0.50,
}

#: Default PUE per cooling type — labelled estimates from FACTS.md: the industry average is 1.56-1.58
#: (Uptime Institute, mostly air-cooled halls); new large sites reach <= 1.3; liquid cooling lower still
#: (direct liquid 1.20, closed water loop 1.15, immersion 1.08: estimates within that ordering).
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
    return idle_w + (tdp_w - idle_w) * u


def node_overhead_w(gpus_per_node: Num) -> Num:
    """Host-side draw of a busy node with ``gpus_per_node`` GPU slots."""
    return NODE_BASE_W + NODE_PER_GPU_SLOT_W * gpus_per_node


def busy_gpu_it_power_w(tdp_w: Num, idle_w: Num, gpus_per_node: Num, utilisation: Num | float) -> Num:
    """IT watts per busy GPU: the GPU itself plus its share of the node's overhead."""
    return gpu_power_w(tdp_w, idle_w, utilisation) + node_overhead_w(gpus_per_node) / gpus_per_node


def utilisation_for(kind: JobKind, utilisation: float | None = None) -> float:
    """The job's utilisation: its own figure if given (checked), else the kind's default."""
    if utilisation is None:
        return DEFAULT_UTILISATION[kind]
    if not 0.0 <= utilisation <= 1.0:
        raise InputError(f"utilisation must be between 0 and 1, got {utilisation}")
    return float(utilisation)


def job_it_power_w(
    accelerator: Accelerator, gpus: int, gpus_per_node: int, kind: JobKind, utilisation: float | None = None
) -> float:
    """IT power of a job holding ``gpus`` GPUs on nodes of ``gpus_per_node`` slots."""
    u = utilisation_for(kind, utilisation)
    return float(gpus * busy_gpu_it_power_w(accelerator.tdp_w, accelerator.idle_w, float(gpus_per_node), u))


def node_it_power_w(
    accelerator: Accelerator, gpus_per_node: int, kind: JobKind, utilisation: float | None = None
) -> float:
    """IT power of one node with every GPU busy: what a wall-plug meter on the node would read."""
    return job_it_power_w(accelerator, gpus_per_node, gpus_per_node, kind, utilisation)


def facility_power_w(it_power_w: Num, pue: Num | float) -> Num:
    """Facility power: IT power times the site's PUE (cooling and power distribution)."""
    return it_power_w * pue


def default_pue(cooling: Cooling | str) -> float:
    """The labelled-estimate PUE of a cooling type (for sites that give none)."""
    try:
        return DEFAULT_PUE_BY_COOLING[Cooling(cooling)]
    except ValueError:
        raise InputError(f"unknown cooling {cooling!r}; known: {', '.join(c.value for c in Cooling)}") from None


def job_facility_power_w(
    accelerator: Accelerator,
    gpus: int,
    gpus_per_node: int,
    kind: JobKind,
    pue: float,
    utilisation: float | None = None,
) -> float:
    """Facility power of a job: what counts against a site's envelope."""
    return float(facility_power_w(job_it_power_w(accelerator, gpus, gpus_per_node, kind, utilisation), pue))
