"""Accelerator model and catalog: board power from FACTS, relative throughput, the shared runtime model."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hexagrid.domain import CATALOG, REFERENCE_ACCELERATOR, Accelerator, get_accelerator, runtime_s
from hexagrid.errors import NotFound


def test_catalog_board_power_matches_facts() -> None:
    # FACTS.md "board power": A100 400 W, H100 700 W, H200 700 W, B200 1,000 W, MI300X 750 W
    expected = {"A100": 400, "H100": 700, "H200": 700, "B200": 1000, "MI300X": 750}
    assert {k: CATALOG[k].tdp_w for k in expected} == expected


def test_catalog_is_consistent() -> None:
    assert CATALOG[REFERENCE_ACCELERATOR].training_throughput == 1.0
    assert CATALOG[REFERENCE_ACCELERATOR].inference_throughput == 1.0
    for name, acc in CATALOG.items():
        assert acc.name == name
        assert 0 <= acc.idle_w < acc.tdp_w
        # every number not from FACTS carries its reasoning
        assert "idle_w" in acc.estimates
    assert (
        CATALOG["B200"].training_throughput > CATALOG["H100"].training_throughput > CATALOG["A100"].training_throughput
    )


def test_accelerator_rejects_bad_values() -> None:
    good = {
        "name": "X1",
        "vendor": "v",
        "memory_gb": 80,
        "tdp_w": 500,
        "idle_w": 50,
        "training_throughput": 1.0,
        "inference_throughput": 1.0,
    }
    assert Accelerator(**good).tdp_w == 500
    for field, bad in (("tdp_w", 0), ("memory_gb", -1), ("training_throughput", 0), ("idle_w", -5), ("name", "")):
        with pytest.raises(ValidationError) as err:
            Accelerator(**{**good, field: bad})
        assert err.value.errors()[0]["loc"] == (field,)
    with pytest.raises(ValidationError):
        Accelerator(**good, colour="red")  # type: ignore[call-arg]


def test_get_accelerator_lists_known_names() -> None:
    assert get_accelerator("H100") is CATALOG["H100"]
    with pytest.raises(NotFound, match=r"H900.*known: .*A100"):
        get_accelerator("H900")


def test_runtime_scales_by_throughput() -> None:
    h100 = CATALOG["H100"]
    assert runtime_s(2500.0, h100) == pytest.approx(1000.0)  # 2.5x A100 for training
    assert runtime_s(3000.0, h100, inference=True) == pytest.approx(1000.0)  # 3x for inference
    assert runtime_s(100.0, CATALOG[REFERENCE_ACCELERATOR]) == 100.0
    assert runtime_s(100.0, CATALOG["V100"]) > 100.0
