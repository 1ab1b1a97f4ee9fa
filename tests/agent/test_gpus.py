"""GPU detection: NVML name mapping, the real no-driver fallback, and reading through the NVML API."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from hexagrid.agent.gpus import (
    NO_GPU_MESSAGE,
    NvmlReader,
    accelerator_from_nvml_name,
    declared_gpus,
    detect_gpus,
)
from hexagrid.errors import InputError


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("NVIDIA H100 80GB HBM3", "H100"),
        ("NVIDIA H100 PCIe", "H100"),
        ("NVIDIA H100 NVL", "H100"),
        ("NVIDIA H200", "H200"),
        ("NVIDIA H200 NVL", "H200"),
        ("NVIDIA A100-SXM4-80GB", "A100"),
        ("NVIDIA A100-PCIE-40GB", "A100"),
        ("Tesla V100-SXM2-32GB", "V100"),
        ("Tesla V100-PCIE-16GB", "V100"),
        ("NVIDIA L40S", "L40S"),
        ("NVIDIA B200", "B200"),
        (b"NVIDIA H100 80GB HBM3".decode(), "H100"),
        ("NVIDIA GH200 480GB", None),  # Grace Hopper superchip: not a catalog model
        ("NVIDIA GB200", None),
        ("NVIDIA L40", None),  # L40 is not L40S
        ("NVIDIA A10", None),
        ("NVIDIA GeForce RTX 4090", None),
        ("Tesla T4", None),
    ],
)
def test_nvml_names_map_to_catalog(name: str, expected: str | None) -> None:
    assert accelerator_from_nvml_name(name) == expected


def test_real_nvml_absent_falls_back_cleanly() -> None:
    """On a host without the NVIDIA driver (this CI box), NVML init fails and detection says what to do."""
    import pynvml

    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        pass
    else:  # pragma: no cover - only on GPU hosts
        pynvml.nvmlShutdown()
        pytest.skip("NVML works on this host; the fallback path is for hosts without it")
    assert NvmlReader.open() is None
    with pytest.raises(InputError, match=r"^no NVIDIA GPU detected; declare GPUs with --accelerator and --gpus$"):
        detect_gpus(None)
    assert NO_GPU_MESSAGE.startswith("no NVIDIA GPU")


class _FakeNvml:
    """The slice of the pynvml API the reader uses, for devices this host does not have."""

    class NVMLError(Exception):
        pass

    def __init__(self, names: list[str], power_mw: list[int | None], fail_init: bool = False) -> None:
        self._names, self._power, self._fail = names, power_mw, fail_init
        self.shutdowns = 0

    def nvmlInit(self) -> None:
        if self._fail:
            raise self.NVMLError("Driver Not Loaded")

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlDeviceGetCount(self) -> int:
        return len(self._names)

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetName(self, h: int) -> bytes:
        return self._names[h].encode()

    def nvmlDeviceGetMemoryInfo(self, h: int) -> SimpleNamespace:
        return SimpleNamespace(total=80 * 10**9, used=(h + 1) * 10**9)

    def nvmlDeviceGetPowerUsage(self, h: int) -> int:
        if self._power[h] is None:
            raise self.NVMLError("Not Supported")
        return self._power[h]  # type: ignore[return-value]

    def nvmlDeviceGetUtilizationRates(self, h: int) -> SimpleNamespace:
        return SimpleNamespace(gpu=50 + h, memory=10)


def test_driver_not_loaded_is_no_gpu() -> None:
    assert NvmlReader.open(_FakeNvml(["NVIDIA H100 80GB HBM3"], [1], fail_init=True)) is None


def test_detect_and_read_through_nvml_api() -> None:
    fake = _FakeNvml(["NVIDIA H100 80GB HBM3"] * 2, [312_500, None])
    reader = NvmlReader.open(fake)
    assert reader is not None
    gpus = detect_gpus(reader)
    assert (gpus.accelerator, gpus.count, gpus.detected_by, gpus.memory_gb) == ("H100", 2, "nvml", 80.0)
    r0, r1 = reader.read()
    assert (r0.power_w, r0.utilisation_pct, r0.memory_used_gb) == (312.5, 50.0, 1.0)
    assert r1.power_w is None and r1.utilisation_pct == 51.0  # power not supported on that device
    reader.close()
    assert fake.shutdowns == 1


def test_unknown_and_mixed_models_are_refused() -> None:
    with pytest.raises(InputError, match="'NVIDIA GeForce RTX 4090' is not in the catalog"):
        detect_gpus(NvmlReader.open(_FakeNvml(["NVIDIA GeForce RTX 4090"], [1])))
    with pytest.raises(InputError, match="different models on one node \\(A100, H100\\)"):
        detect_gpus(NvmlReader.open(_FakeNvml(["NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB"], [1, 1])))


def test_declared_gpus() -> None:
    assert declared_gpus(None, None) is None
    d = declared_gpus("MI300X", 8)
    assert d is not None and (d.accelerator, d.count, d.detected_by) == ("MI300X", 8, "declared")
    with pytest.raises(InputError, match="--gpus is required"):
        declared_gpus("H100", None)
    with pytest.raises(InputError, match="--accelerator is required"):
        declared_gpus(None, 4)
    with pytest.raises(InputError, match="'H900' is not in the catalog; known: A100"):
        declared_gpus("H900", 4)
    with pytest.raises(InputError, match="between 1 and 16 GPUs per node, got 0"):
        declared_gpus("H100", 0)
