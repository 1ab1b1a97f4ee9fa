"""Builders of valid domain documents; each test changes one thing and checks the result."""

from __future__ import annotations

from typing import Any


def site_doc(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": "s1",
        "name": "Site one",
        "operator": "op",
        "kind": "private_cloud",
        "country": "FR",
        "region": "Ile-de-France",
        "latitude": 48.8,
        "longitude": 2.3,
        "grid_zone": "FR",
        "power_mw": 2.0,
        "cooling": "direct_liquid",
        "pue": 1.2,
        "access": "both",
        "price_eur_per_gpu_h": {"H100": 2.5},
        "pools": [{"id": "p1", "accelerator": "H100", "gpus_per_node": 8, "nodes": 4}],
    }
    doc.update(overrides)
    return doc


def job_doc(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": "j1",
        "tenant": "t1",
        "resources": {"gpus": 8},
        "expected_duration_s": 3600.0,
    }
    doc.update(overrides)
    return doc
