"""Several server replicas on one PostgreSQL: exactly one schedules; another takes over when it dies.
And the live loop in a real server process (SQLite and PostgreSQL) keeps FR-only work in France."""

from __future__ import annotations

import time
from typing import Any

import pytest

pytestmark = pytest.mark.integration

SITE = {
    "operator": "t",
    "kind": "private_cloud",
    "region": "r",
    "latitude": 48.8,
    "longitude": 2.3,
    "power_mw": 1.0,
    "cooling": "air",
    "pue": 1.3,
    "access": "both",
    "price_eur_per_gpu_h": {"L40S": 1.0},
    "pools": [{"id": "p1", "accelerator": "L40S", "gpus_per_node": 2, "nodes": 1}],
}


def _site(sid: str, country: str) -> dict[str, Any]:
    return {"id": sid, "name": sid, "country": country, "grid_zone": country, **SITE}


def _leaders(servers: list[Any]) -> list[bool]:
    return [s.client().get("/healthz").json()["scheduler_leader"] for s in servers]


def _wait(pred: Any, timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def _register(sp: Any, prov: str, site: str, name: str) -> tuple[str, str]:
    r = sp.client(prov).post(
        "/v1/agents/register", json={"node_name": name, "site_id": site, "accelerator": "L40S", "gpus": 2}
    )
    assert r.status_code == 201, r.text
    return r.json()["node_id"], r.json()["node_token"]


def test_one_scheduler_among_replicas_and_failover(postgres_server: Any) -> None:
    a = postgres_server()
    b = postgres_server()
    assert a.database_url == b.database_url
    leaders = _wait(lambda: (lambda ls: ls if sum(ls) == 1 else None)(_leaders([a, b])))
    leader, follower = (a, b) if leaders[0] else (b, a)
    a.put_site(_site("fr1", "FR"))
    prov = a.make_org("prov", kind="provider")
    tok = a.make_org("acme")
    node = _register(b, prov, "fr1", "n1")
    hb = {"available": True, "telemetry": {"power_w": 1.0}, "running": []}
    jid = (
        follower.client(tok)
        .post("/v1/jobs", json={"resources": {"accelerators": "L40S:1"}, "run": "true"})
        .json()["id"]
    )
    _wait(lambda: a.client(tok).get(f"/v1/jobs/{jid}").json()["state"] == "scheduled")
    leader.kill()
    _wait(lambda: _leaders([follower]) == [True])
    follower.client(node[1]).post(f"/v1/agents/{node[0]}/heartbeat", json=hb)
    jid2 = (
        follower.client(tok)
        .post("/v1/jobs", json={"resources": {"accelerators": "L40S:1"}, "run": "true"})
        .json()["id"]
    )
    _wait(lambda: follower.client(tok).get(f"/v1/jobs/{jid2}").json()["state"] == "scheduled")
    got = follower.client(node[1]).get(f"/v1/agents/{node[0]}/assignments", params={"wait_s": 0}).json()
    assert {x["job_id"] for x in got["assignments"]} == {jid, jid2}
    assert sorted(i for x in got["assignments"] for i in x["gpu_indices"]) == [0, 1]


def test_fr_only_work_stays_in_france_on_a_real_server(server: Any) -> None:
    sp = server()
    for sid, c in (("fr1", "FR"), ("de1", "DE")):
        sp.put_site(_site(sid, c))
    prov = sp.make_org("prov", kind="provider")
    nodes = {"fr1": _register(sp, prov, "fr1", "f"), "de1": _register(sp, prov, "de1", "d")}
    tok = sp.make_org("acme")
    c = sp.client(tok)
    fr = [
        c.post("/v1/jobs", json={"resources": {"accelerators": "L40S:2"}, "run": "true", "residency": "FR"}).json()[
            "id"
        ]
        for _ in range(3)
    ]
    placed: dict[str, str] = {}
    deadline = time.monotonic() + 60
    while len(placed) < len(fr) and time.monotonic() < deadline:
        for site, (nid, ntok) in nodes.items():
            nc = sp.client(ntok)
            for x in nc.get(f"/v1/agents/{nid}/assignments", params={"wait_s": 1}).json()["assignments"]:
                placed[x["job_id"]] = site
                for state in ("running", "succeeded"):
                    r = nc.post(
                        f"/v1/agents/{nid}/jobs/{x['job_id']}/state",
                        json={"attempt": x["attempt"], "state": state, "exit_code": 0},
                    )
                    assert r.status_code == 200, r.text
            nc.post(f"/v1/agents/{nid}/heartbeat", json={"available": True, "running": []})
    assert placed == dict.fromkeys(fr, "fr1")
    assert all(c.get(f"/v1/jobs/{j}").json()["state"] == "succeeded" for j in fr)
    m = sp.client().get("/metrics").text
    starts = sum(
        float(x.rsplit(" ", 1)[1]) for x in m.splitlines() if x.startswith('hexagrid_decisions_total{kind="start"}')
    )
    assert starts >= len(fr), m
    assert "hexagrid_scheduler_leader 1" in m
