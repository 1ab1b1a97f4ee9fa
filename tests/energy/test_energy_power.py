"""The power model against the published figures in FACTS.md."""

from __future__ import annotations

import numpy as np
import pytest

from hexagrid.domain import CATALOG, Cooling, JobKind
from hexagrid.energy.power import (
    DEFAULT_PUE_BY_COOLING,
    DEFAULT_UTILISATION,
    busy_gpu_it_power_w,
    default_pue,
    facility_power_w,
    gpu_power_w,
    job_facility_power_w,
    job_it_power_w,
    node_it_power_w,
)
from hexagrid.errors import InputError


def test_8xh100_training_node_matches_published_measurement() -> None:
    # FACTS.md: 8xH100 node training Llama2-13B peaked ~8.4 kW of 10.2 kW rated; intensive training ~76% of rated
    w = node_it_power_w(CATALOG["H100"], 8, JobKind.TRAINING)
    assert abs(w - 8400) / 8400 < 0.10
    assert abs(w - 0.76 * 10200) / (0.76 * 10200) < 0.02


def test_llm_decode_on_h200_within_measured_range() -> None:
    # FACTS.md: LLM decode on H200 draws 137-300 W of 700 W (GPU alone)
    h200 = CATALOG["H200"]
    w = gpu_power_w(h200.tdp_w, h200.idle_w, DEFAULT_UTILISATION[JobKind.INFERENCE])
    assert 137 <= w <= 300


def test_curve_is_linear_between_idle_and_board_power_and_clipped() -> None:
    a = CATALOG["A100"]
    assert gpu_power_w(a.tdp_w, a.idle_w, 0.0) == a.idle_w
    assert gpu_power_w(a.tdp_w, a.idle_w, 1.0) == a.tdp_w
    assert gpu_power_w(a.tdp_w, a.idle_w, 0.5) == pytest.approx((a.tdp_w + a.idle_w) / 2)
    assert gpu_power_w(a.tdp_w, a.idle_w, 1.7) == a.tdp_w
    assert gpu_power_w(a.tdp_w, a.idle_w, -1.0) == a.idle_w


def test_array_and_scalar_agree() -> None:
    tdp = np.array([400.0, 700.0, 1000.0])
    idle = np.array([55.0, 75.0, 120.0])
    gpn = np.array([4.0, 8.0, 8.0])
    arr = busy_gpu_it_power_w(tdp, idle, gpn, 0.6)
    for i in range(3):
        assert arr[i] == pytest.approx(busy_gpu_it_power_w(float(tdp[i]), float(idle[i]), float(gpn[i]), 0.6))


def test_job_power_scales_with_gpus_and_pue() -> None:
    h100 = CATALOG["H100"]
    one = job_it_power_w(h100, 8, 8, JobKind.TRAINING)
    assert job_it_power_w(h100, 64, 8, JobKind.TRAINING) == pytest.approx(8 * one)
    assert job_facility_power_w(h100, 8, 8, JobKind.TRAINING, 1.2) == pytest.approx(1.2 * one)
    assert facility_power_w(1000.0, 1.5) == 1500.0
    assert job_it_power_w(h100, 8, 8, JobKind.INFERENCE) < job_it_power_w(h100, 8, 8, JobKind.TRAINING)


def test_utilisation_override_is_checked() -> None:
    h100 = CATALOG["H100"]
    assert job_it_power_w(h100, 1, 8, JobKind.TRAINING, utilisation=1.0) > job_it_power_w(h100, 1, 8, JobKind.TRAINING)
    with pytest.raises(InputError, match="utilisation"):
        job_it_power_w(h100, 1, 8, JobKind.TRAINING, utilisation=1.5)


def test_pue_defaults_ordered_and_within_facts() -> None:
    assert 1.0 < DEFAULT_PUE_BY_COOLING[Cooling.IMMERSION] < DEFAULT_PUE_BY_COOLING[Cooling.CLOSED_LOOP_WATER]
    assert DEFAULT_PUE_BY_COOLING[Cooling.CLOSED_LOOP_WATER] < DEFAULT_PUE_BY_COOLING[Cooling.DIRECT_LIQUID] <= 1.3
    assert 1.5 <= DEFAULT_PUE_BY_COOLING[Cooling.AIR] <= 1.58
    assert default_pue("air") == DEFAULT_PUE_BY_COOLING[Cooling.AIR]
    with pytest.raises(InputError, match="unknown cooling 'steam'"):
        default_pue("steam")
