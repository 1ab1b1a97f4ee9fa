"""Heartbeat telemetry: the energy model's estimate without NVML, measured values with it."""

from __future__ import annotations

import pytest

from hexagrid.agent.gpus import GpuReading
from hexagrid.agent.telemetry import estimated_utilisation, telemetry
from hexagrid.domain import CATALOG, JobKind
from hexagrid.energy.power import DEFAULT_UTILISATION, gpu_power_w

H100 = CATALOG["H100"]


def test_estimate_uses_the_power_model_per_gpu() -> None:
    t = telemetry(H100, 4, {0: "training", 1: "training", 2: "inference"})
    assert t["power_source"] == "estimate"
    expected = [
        gpu_power_w(H100.tdp_w, H100.idle_w, DEFAULT_UTILISATION[JobKind.TRAINING]),
        gpu_power_w(H100.tdp_w, H100.idle_w, DEFAULT_UTILISATION[JobKind.TRAINING]),
        gpu_power_w(H100.tdp_w, H100.idle_w, DEFAULT_UTILISATION[JobKind.INFERENCE]),
        H100.idle_w,
    ]
    assert [g["power_w"] for g in t["gpus"]] == pytest.approx(expected)
    assert t["power_w"] == pytest.approx(sum(expected))
    assert [g["utilisation_pct"] for g in t["gpus"]] == pytest.approx([85.0, 85.0, 23.0, 0.0])
    assert all(g["memory_used_gb"] is None for g in t["gpus"])


def test_idle_node_draws_idle_power() -> None:
    t = telemetry(CATALOG["L40S"], 2, {})
    assert t["power_w"] == pytest.approx(2 * CATALOG["L40S"].idle_w)


def test_unknown_kind_counts_as_training() -> None:
    assert estimated_utilisation("mystery") == DEFAULT_UTILISATION[JobKind.TRAINING]
    assert estimated_utilisation(None) == 0.0


def test_measured_when_every_gpu_reports_power() -> None:
    readings = [GpuReading(0, 401.5, 97.0, 30.0), GpuReading(1, 80.0, 0.0, 0.5)]
    t = telemetry(H100, 2, {0: "training"}, readings)
    assert t["power_source"] == "nvml"
    assert t["power_w"] == pytest.approx(481.5)
    assert t["gpus"][0] == {"index": 0, "power_w": 401.5, "utilisation_pct": 97.0, "memory_used_gb": 30.0}


def test_any_unmeasured_gpu_makes_it_an_estimate() -> None:
    readings = [GpuReading(0, 401.5, 97.0, 30.0), GpuReading(1, None, None, None)]
    t = telemetry(H100, 2, {1: "batch"}, readings)
    assert t["power_source"] == "estimate"
    assert t["gpus"][1]["power_w"] == pytest.approx(gpu_power_w(H100.tdp_w, H100.idle_w, 0.5))
    assert t["gpus"][0]["power_w"] == 401.5
