"""In-process fixtures: the app over a temporary SQLite database, the scheduling loop driven by hand."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hexagrid.server.app import create_app
from hexagrid.server.loop import SchedulingLoop
from hexagrid.server.settings import Settings

ADMIN = "hxg_admin_for_tests"


def site_doc(
    site_id: str, country: str = "FR", accelerator: str = "L40S", gpus_per_node: int = 2, **extra: Any
) -> dict[str, Any]:
    zone = {"FR": "FR", "DE": "DE", "US": "US-CAL-CISO"}.get(country, country)
    doc = {
        "id": site_id,
        "name": site_id,
        "operator": "test",
        "kind": "private_cloud",
        "country": country,
        "region": "test",
        "latitude": 48.8,
        "longitude": 2.3,
        "grid_zone": zone,
        "power_mw": 1.0,
        "cooling": "air",
        "pue": 1.3,
        "access": "both",
        "price_eur_per_gpu_h": {accelerator: 1.0},
        "pools": [{"id": "p1", "accelerator": accelerator, "gpus_per_node": gpus_per_node, "nodes": 1}],
    }
    doc.update(extra)
    return doc


@dataclass
class Harness:
    """The app's test client plus helpers; ``schedule()`` runs one scheduling pass now."""

    client: TestClient
    loop: SchedulingLoop

    def h(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def org(
        self, org_id: str, *, kind: str = "tenant", scopes: tuple[str, ...] = ("submit", "read"), **extra: Any
    ) -> str:
        r = self.client.post(
            "/v1/orgs", json={"id": org_id, "name": org_id, "kind": kind, **extra}, headers=self.h(ADMIN)
        )
        assert r.status_code == 201, r.text
        r = self.client.post(
            f"/v1/orgs/{org_id}/tokens",
            json={"scopes": ["provider"] if kind == "provider" else list(scopes)},
            headers=self.h(ADMIN),
        )
        assert r.status_code == 201, r.text
        return str(r.json()["token"])

    def site(self, doc: dict[str, Any]) -> None:
        r = self.client.post("/v1/sites", json=doc, headers=self.h(ADMIN))
        assert r.status_code == 201, r.text

    def node(
        self, provider_token: str, site_id: str, name: str, *, accelerator: str = "L40S", gpus: int = 2, **extra: Any
    ) -> tuple[str, str]:
        body = {
            "node_name": name,
            "hostname": name,
            "site_id": site_id,
            "accelerator": accelerator,
            "gpus": gpus,
        } | extra
        r = self.client.post("/v1/agents/register", json=body, headers=self.h(provider_token))
        assert r.status_code == 201, r.text
        return r.json()["node_id"], r.json()["node_token"]

    def submit(self, token: str, doc: dict[str, Any], **headers: str) -> Any:
        return self.client.post("/v1/jobs", json=doc, headers=self.h(token) | headers)

    def schedule(self, now: float | None = None) -> dict[str, int]:
        return self.loop.run_pass(time.time() if now is None else now)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    settings = Settings(
        data_dir=tmp_path,
        bootstrap_admin_token=ADMIN,
        scheduler_enabled=False,
        heartbeat_interval_s=5,
        lost_after_s=15,
        long_poll_s=1,
        stop_grace_s=1,
    )
    app = create_app(settings)
    with TestClient(app) as client:
        loop = SchedulingLoop(app.state.ctx)
        loop.signals = app.state.signals
        yield Harness(client, loop)


def job(accel: str = "L40S:1", **extra: Any) -> dict[str, Any]:
    return {"resources": {"accelerators": accel}, "run": "echo hello"} | extra
