"""What GPUs this node has: detected through NVML (nvidia-ml-py) or declared on the command line.

NVML gives the model name, memory, board power and utilisation of every NVIDIA GPU. The model name is
mapped onto the catalog (:data:`hexagrid.domain.CATALOG`) so the server schedules this node like any
other pool. AMD GPUs (MI300X) are not visible to NVML: declare them with ``--accelerator --gpus``.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Any, Literal

from hexagrid.domain import CATALOG
from hexagrid.errors import InputError

__all__ = [
    "NO_GPU_MESSAGE",
    "DetectedGpus",
    "GpuReading",
    "NvmlReader",
    "accelerator_from_nvml_name",
    "declared_gpus",
    "detect_gpus",
]

NO_GPU_MESSAGE = "no NVIDIA GPU detected; declare GPUs with --accelerator and --gpus"

#: NVML model names -> catalog names. Word boundaries keep GH200/GB200 (Grace superchips) and L40 (not L40S)
#: out: they are not catalog models, and a wrong mapping would mis-schedule the node.
_NAME_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bH100\b"), "H100"),
    (re.compile(r"\bH200\b"), "H200"),
    (re.compile(r"\bB200\b"), "B200"),
    (re.compile(r"\bA100\b"), "A100"),
    (re.compile(r"\bV100\b"), "V100"),
    (re.compile(r"\bL40S\b"), "L40S"),
)


def accelerator_from_nvml_name(name: str) -> str | None:
    """The catalog name for an NVML device name (``"NVIDIA H100 80GB HBM3"`` -> ``"H100"``), or None."""
    upper = name.upper().replace("_", " ")
    for pattern, catalog_name in _NAME_PATTERNS:
        if pattern.search(upper):
            return catalog_name
    return None


@dataclass(frozen=True, slots=True)
class DetectedGpus:
    """The GPUs this node offers: ``count`` of ``accelerator`` (a catalog name)."""

    accelerator: str
    count: int
    detected_by: Literal["nvml", "declared"]
    memory_gb: float | None = None
    names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GpuReading:
    """One GPU's measured state from NVML; a field is None where the device does not report it."""

    index: int
    power_w: float | None
    utilisation_pct: float | None
    memory_used_gb: float | None


def _nvml() -> Any:
    """Import pynvml lazily: the module loads without the driver; only nvmlInit needs it."""
    import pynvml

    return pynvml


def _decode(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class NvmlReader:
    """An initialised NVML session. ``open()`` returns None where NVML or its driver is absent."""

    def __init__(self, nvml: Any, handles: list[Any]) -> None:
        self._nvml = nvml
        self._handles = handles

    @classmethod
    def open(cls, nvml: Any | None = None) -> NvmlReader | None:
        mod = _nvml() if nvml is None else nvml
        try:
            mod.nvmlInit()
            handles = [mod.nvmlDeviceGetHandleByIndex(i) for i in range(mod.nvmlDeviceGetCount())]
        except mod.NVMLError:
            # NVMLError_LibraryNotFound (no libnvidia-ml), DriverNotLoaded, NoPermission, ...
            return None
        if not handles:
            mod.nvmlShutdown()
            return None
        return cls(mod, handles)

    @property
    def count(self) -> int:
        return len(self._handles)

    def names(self) -> list[str]:
        return [_decode(self._nvml.nvmlDeviceGetName(h)) for h in self._handles]

    def memory_total_gb(self) -> float:
        return float(self._nvml.nvmlDeviceGetMemoryInfo(self._handles[0]).total) / 1e9

    def read(self) -> list[GpuReading]:
        """Measured power (W, from mW), utilisation (%) and used memory (GB) of every GPU."""
        nv = self._nvml
        out: list[GpuReading] = []
        for i, h in enumerate(self._handles):
            power = util = mem = None
            with contextlib.suppress(nv.NVMLError):
                power = float(nv.nvmlDeviceGetPowerUsage(h)) / 1000.0
            with contextlib.suppress(nv.NVMLError):
                util = float(nv.nvmlDeviceGetUtilizationRates(h).gpu)
            with contextlib.suppress(nv.NVMLError):
                mem = float(nv.nvmlDeviceGetMemoryInfo(h).used) / 1e9
            out.append(GpuReading(i, power, util, mem))
        return out

    def close(self) -> None:
        with contextlib.suppress(self._nvml.NVMLError):
            self._nvml.nvmlShutdown()


def detect_gpus(reader: NvmlReader | None) -> DetectedGpus:
    """The node's GPUs as NVML sees them; raises InputError when there are none or they are not in the catalog."""
    if reader is None:
        raise InputError(NO_GPU_MESSAGE)
    names = reader.names()
    models = {n: accelerator_from_nvml_name(n) for n in names}
    unknown = sorted({n for n, m in models.items() if m is None})
    if unknown:
        raise InputError(
            f"GPU model {unknown[0]!r} is not in the catalog (known: {', '.join(sorted(CATALOG))}); "
            "declare the GPUs with --accelerator and --gpus"
        )
    kinds = sorted({m for m in models.values() if m is not None})
    if len(kinds) > 1:
        raise InputError(
            f"GPUs of different models on one node ({', '.join(kinds)}); a node offers one model: "
            "declare the ones to offer with --accelerator and --gpus"
        )
    return DetectedGpus(kinds[0], len(names), "nvml", reader.memory_total_gb(), tuple(names))


def declared_gpus(accelerator: str | None, gpus: int | None) -> DetectedGpus | None:
    """GPUs declared with ``--accelerator`` and ``--gpus`` (both or neither); None when neither is given."""
    if accelerator is None and gpus is None:
        return None
    if accelerator is None or gpus is None:
        missing = "--gpus" if gpus is None else "--accelerator"
        raise InputError(f"{missing} is required when declaring GPUs (give both --accelerator and --gpus)")
    if accelerator not in CATALOG:
        raise InputError(f"--accelerator: {accelerator!r} is not in the catalog; known: {', '.join(sorted(CATALOG))}")
    if not 1 <= gpus <= 16:
        raise InputError(f"--gpus: must be between 1 and 16 GPUs per node, got {gpus}")
    return DetectedGpus(accelerator, gpus, "declared")
