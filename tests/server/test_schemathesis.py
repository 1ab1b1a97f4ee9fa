"""Property-based API fuzzing from the OpenAPI schema: no input makes the server answer 5xx."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from hexagrid.server.app import create_app
from hexagrid.server.settings import Settings

ADMIN = "hxg_schemathesis_admin"
_DIR = Path(tempfile.mkdtemp(prefix="hx-schemathesis-"))
app = create_app(Settings(data_dir=_DIR, bootstrap_admin_token=ADMIN, scheduler_enabled=False, carbon="none"))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module", autouse=True)
def _seed() -> Iterator[None]:
    """A site, a node and a job so that generated ids sometimes meet real rows."""
    with TestClient(app) as c:
        h = {"Authorization": f"Bearer {ADMIN}"}
        site = {
            "id": "fr1",
            "name": "fr1",
            "operator": "t",
            "kind": "private_cloud",
            "country": "FR",
            "region": "r",
            "latitude": 48.8,
            "longitude": 2.3,
            "grid_zone": "FR",
            "power_mw": 1,
            "cooling": "air",
            "pue": 1.3,
            "access": "both",
            "price_eur_per_gpu_h": {"L40S": 1.0},
            "pools": [{"id": "p1", "accelerator": "L40S", "gpus_per_node": 2, "nodes": 1}],
        }
        assert c.post("/v1/sites", json=site, headers=h).status_code == 201
        assert c.post(
            "/v1/jobs", json={"resources": {"accelerators": "L40S:1"}, "run": "true"}, headers=h
        ).status_code in (200, 201)
    yield
    shutil.rmtree(_DIR, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: Any) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {ADMIN}"}, checks=[not_a_server_error])
