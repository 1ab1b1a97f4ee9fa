"""The hot paths answer the common case of submit and heartbeat before routing; everything else reaches
the routes and gets the same answers as before (errors included), and metrics label both alike."""

from __future__ import annotations

from typing import Any

import pytest
from server_harness import ADMIN, Harness, job, site_doc
from sqlalchemy import func, select

from hexagrid.server import services
from hexagrid.server.hotpath import StoredThenFailed
from hexagrid.server.models import Job


def _count(h: Harness, route: str) -> float:
    text = h.client.get("/metrics", headers=h.h(ADMIN)).text
    key = f'hexagrid_http_request_duration_seconds_count{{method="POST",route="{route}"}} '
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(key))


def test_submits_take_the_hot_path_and_its_refusals_the_route(harness: Harness) -> None:
    h = harness
    tok = h.org("acme")
    ids = [h.submit(tok, job()).json()["id"] for _ in range(3)]  # the first resolves the token
    assert len(set(ids)) == 3
    with h.loop.ctx.db.session() as s:
        assert s.execute(select(func.count()).select_from(Job)).scalar_one() == 3
    got = h.client.get(f"/v1/jobs/{ids[-1]}", headers=h.h(tok)).json()
    assert got["state"] == "pending" and got["spec"]["run"] == job()["run"]
    # refusals: each the route's own answer
    assert h.submit("hxg_wrong", job()).status_code == 401
    assert h.submit(tok, {"name": "x"}).status_code == 422
    assert h.submit(tok, job(project="nope")).json()["detail"][0]["loc"] == "project"
    r = h.client.post("/v1/jobs", content=b"{not json", headers=h.h(tok) | {"Content-Type": "application/json"})
    assert r.status_code == 422 and "not valid JSON" in r.json()["detail"][0]["msg"]
    assert h.submit(tok, job(), **{"Idempotency-Key": "k1"}).status_code == 201
    assert h.submit(tok, job(), **{"Idempotency-Key": "k1"}).status_code == 200
    assert _count(h, "/v1/jobs") == 9


def test_idle_heartbeats_take_the_hot_path_and_others_the_route(harness: Harness) -> None:
    h = harness
    prov = h.org("prov", kind="provider")
    h.site(site_doc("fr-1", "FR"))
    a = h.node(prov, "fr-1", "a")
    b = h.node(prov, "fr-1", "b")
    beat = {
        "available": True,
        "telemetry": {"power_w": 100.0, "gpus": [{"index": 0, "power_w": 50, "utilisation_pct": 9}]},
    }
    r = h.client.post(f"/v1/agents/{a[0]}/heartbeat", json=beat, headers=h.h(a[1]))
    assert r.status_code == 200 and r.json()["stop"] == []
    # another node's token, a wrong token, no token, a bad body: the route's answers
    assert h.client.post(f"/v1/agents/{a[0]}/heartbeat", json=beat, headers=h.h(b[1])).status_code == 404
    assert h.client.post(f"/v1/agents/{a[0]}/heartbeat", json=beat, headers=h.h("hxg_x")).status_code == 401
    assert h.client.post(f"/v1/agents/{a[0]}/heartbeat", json=beat).status_code == 401
    assert h.client.post(f"/v1/agents/{a[0]}/heartbeat", json={"bogus": 1}, headers=h.h(a[1])).status_code == 422
    # a node that goes unavailable is reconciled by the route, then beats idle again
    assert (
        h.client.post(f"/v1/agents/{b[0]}/heartbeat", json={"available": False}, headers=h.h(b[1])).status_code == 200
    )
    assert h.client.post(f"/v1/agents/{b[0]}/heartbeat", json=beat, headers=h.h(b[1])).status_code == 200
    assert _count(h, "/v1/agents/{node_id}/heartbeat") == 7


def test_a_failure_after_the_commit_is_not_replayed_into_a_second_job(harness: Harness, monkeypatch: Any) -> None:
    h = harness
    tok = h.org("acme")
    assert h.submit(tok, job()).status_code == 201  # the token is now cached: the next submit takes the hot path

    def broken(row: Any) -> Any:
        raise RuntimeError("answer lost")

    monkeypatch.setattr(services, "job_public", broken)
    with pytest.raises(StoredThenFailed, match="was stored, then answering failed: answer lost"):
        h.submit(tok, job())
    with h.loop.ctx.db.session() as s:
        assert s.execute(select(func.count()).select_from(Job)).scalar_one() == 2, "stored once, not replayed"
