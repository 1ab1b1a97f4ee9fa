"""Heartbeat telemetry: measured GPU power and utilisation from NVML, else the energy model's estimate.

Both sources report GPU board power only (the host's CPUs, fans and power supplies are not measured by
NVML, so the estimate leaves them out too and the two stay comparable). The estimate is the one power
curve of :mod:`hexagrid.energy.power` (``gpu_power_w``) at the default utilisation of the kind of job
holding each GPU (:data:`DEFAULT_UTILISATION`), or idle draw for a free GPU; it is labelled
``power_source: "estimate"``. ``"nvml"`` is sent only when every GPU's power was measured.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hexagrid.agent.gpus import GpuReading
from hexagrid.domain import Accelerator, JobKind
from hexagrid.energy.power import DEFAULT_UTILISATION, gpu_power_w

__all__ = ["estimated_utilisation", "telemetry"]


def estimated_utilisation(kind: str | None) -> float:
    """Utilisation in [0, 1] assumed for a GPU running a job of ``kind``; unknown kinds count as training.

    Training is the heaviest default kind, so an unknown kind over- rather than under-states power.
    """
    if kind is None:
        return 0.0
    try:
        return DEFAULT_UTILISATION[JobKind(kind)]
    except ValueError:
        return DEFAULT_UTILISATION[JobKind.TRAINING]


def telemetry(
    accelerator: Accelerator,
    gpus: int,
    busy: Mapping[int, str],
    readings: Sequence[GpuReading] | None = None,
) -> dict[str, Any]:
    """The heartbeat's ``telemetry`` object.

    ``busy`` maps a GPU index to the kind of the job holding it; ``readings`` are NVML's (None without NVML).
    """
    by_index = {r.index: r for r in readings or ()}
    rows: list[dict[str, Any]] = []
    all_measured = readings is not None
    for i in range(gpus):
        u = estimated_utilisation(busy.get(i))
        r = by_index.get(i)
        if r is not None and r.power_w is not None:
            power = r.power_w
        else:
            power = float(gpu_power_w(accelerator.tdp_w, accelerator.idle_w, u))
            all_measured = False
        util = r.utilisation_pct if r is not None and r.utilisation_pct is not None else 100.0 * u
        rows.append(
            {
                "index": i,
                "power_w": round(power, 3),
                "utilisation_pct": round(util, 3),
                "memory_used_gb": None if r is None or r.memory_used_gb is None else round(r.memory_used_gb, 3),
            }
        )
    return {
        "power_w": round(sum(row["power_w"] for row in rows), 3),
        "power_source": "nvml" if all_measured and gpus > 0 else "estimate",
        "gpus": rows,
    }
