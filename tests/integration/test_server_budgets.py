"""Budgets on a real server process (SQLite and PostgreSQL, the scheduler in its own process) and through
the CLI: a tenant with no budget left waits with reason ``budget`` while another starts; ``hexagrid
explain`` and ``hexagrid usage`` say so; raising the budget through the client lets the job start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest

from hexagrid.client import HexagridClient

pytestmark = pytest.mark.integration

SITE = {
    "id": "fr1",
    "name": "fr1",
    "operator": "t",
    "kind": "private_cloud",
    "country": "FR",
    "region": "r",
    "latitude": 48.8,
    "longitude": 2.3,
    "grid_zone": "FR",
    "power_mw": 1.0,
    "cooling": "air",
    "pue": 1.3,
    "access": "both",
    "price_eur_per_gpu_h": {"L40S": 1.0},
    "pools": [{"id": "p1", "accelerator": "L40S", "gpus_per_node": 2, "nodes": 1}],
}


def _cli(sp: Any, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEXAGRID_")} | {
        "HEXAGRID_URL": sp.url,
        "HEXAGRID_TOKEN": token,
        "COLUMNS": "200",
    }
    r = subprocess.run(
        [sys.executable, "-m", "hexagrid.cli.main", *args], capture_output=True, text=True, timeout=60, env=env
    )
    assert r.returncode == 0, r.stderr
    return r


def test_budget_on_a_real_server_and_cli(server: Any) -> None:
    sp = server()
    sp.put_site(SITE)
    prov = sp.make_org("prov", kind="provider")
    r = sp.client(prov).post(
        "/v1/agents/register", json={"node_name": "n1", "site_id": "fr1", "accelerator": "L40S", "gpus": 2}
    )
    assert r.status_code == 201, r.text
    node_id, node_token = r.json()["node_id"], r.json()["node_token"]
    node = sp.client(node_token)
    broke = sp.make_org("acme", budget_eur=0)
    other = sp.make_org("beta")
    spec = {"resources": {"accelerators": "L40S:1"}, "run": "true"}
    held = sp.client(broke).post("/v1/jobs", json=spec).json()["id"]
    free = sp.client(other).post("/v1/jobs", json=spec).json()["id"]

    def wait(pred: Any, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            node.post(f"/v1/agents/{node_id}/heartbeat", json={"available": True, "running": []})
            if pred():
                return
            time.sleep(0.2)
        raise AssertionError(f"condition not met in time\n{sp.log_tail()}")

    def job(token: str, jid: str) -> dict[str, Any]:
        return sp.client(token).get(f"/v1/jobs/{jid}").json()  # type: ignore[no-any-return]

    wait(lambda: job(other, free)["state"] == "scheduled" and job(broke, held)["reason"] == "budget")
    time.sleep(1.5)  # a few more passes (tick 0.5 s): still held
    got = job(broke, held)
    assert got["state"] == "pending" and got["message"] == "org acme has spent 0.00 of its 0.00 EUR budget"
    metrics = sp.client().get("/metrics").text
    assert 'hexagrid_queue_length{reason="budget"} 1' in metrics, metrics

    out = _cli(sp, broke, "explain", held).stdout
    assert "budget: org acme has spent 0.00 of its 0.00 EUR budget" in out, out
    assert "budget of org acme: spent 0.00 of 0.00 EUR, 0.00 left" in out, out
    usage = json.loads(_cli(sp, broke, "usage", "--json").stdout)
    assert usage["budgets"] == [
        {
            "scope": "org",
            "org": "acme",
            "project": None,
            "budget_eur": 0.0,
            "spent_eur": 0.0,
            "remaining_eur": 0.0,
            "exhausted": True,
        }
    ]
    out = _cli(sp, broke, "usage").stdout
    assert "org acme" in out and "exhausted" in out, out
    assert "budget" not in _cli(sp, other, "usage").stdout, "no budget set, none shown"

    with HexagridClient(sp.url, sp.admin_token) as admin:
        assert admin.set_budget("acme", 5.0)["budget_eur"] == 5.0
    wait(lambda: job(broke, held)["state"] == "scheduled", timeout_s=15)
    usage = json.loads(_cli(sp, broke, "usage", "--json").stdout)
    assert usage["budgets"][0]["remaining_eur"] == 5.0 and usage["budgets"][0]["exhausted"] is False
