"""The agent protocol and the live loop in-process: placement rules, reports, logs, lost nodes, windows."""

from __future__ import annotations

import time
from typing import Any

from server_harness import Harness, job, site_doc


def _job(h: Harness, token: str, jid: str) -> dict[str, Any]:
    return h.client.get(f"/v1/jobs/{jid}", headers=h.h(token)).json()  # type: ignore[no-any-return]


def _poll(h: Harness, node_id: str, node_token: str) -> dict[str, Any]:
    r = h.client.get(f"/v1/agents/{node_id}/assignments", params={"wait_s": 0}, headers=h.h(node_token))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _report(h: Harness, node: tuple[str, str], jid: str, attempt: int, state: str, exit_code: int | None = None) -> Any:
    return h.client.post(
        f"/v1/agents/{node[0]}/jobs/{jid}/state",
        json={"attempt": attempt, "state": state, "exit_code": exit_code},
        headers=h.h(node[1]),
    )


def _beat(h: Harness, node: tuple[str, str], running: list[tuple[str, int]], available: bool = True) -> dict[str, Any]:
    body = {
        "available": available,
        "telemetry": {"power_w": 300.0, "power_source": "estimate", "gpus": []},
        "running": [{"job_id": j, "attempt": a, "pid": None} for j, a in running],
    }
    r = h.client.post(f"/v1/agents/{node[0]}/heartbeat", json=body, headers=h.h(node[1]))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_register_is_idempotent_and_rotates_the_token(harness: Harness) -> None:
    h = harness
    h.site(site_doc("fr1"))
    prov = h.org("prov", kind="provider")
    n1, tok1 = h.node(prov, "fr1", "gpu-01")
    n2, tok2 = h.node(prov, "fr1", "gpu-01")
    assert n1 == n2 and tok1 != tok2
    assert _beat(h, (n1, tok2), [])["stop"] == []
    old = h.client.post(f"/v1/agents/{n1}/heartbeat", json={}, headers=h.h(tok1))
    assert old.status_code == 401
    # a pool is created for hardware the site had no pool for
    n3, _ = h.node(prov, "fr1", "gpu-02", accelerator="H100", gpus=8)
    nodes = h.client.get("/v1/nodes", headers=h.h(prov)).json()["nodes"]
    assert {n["pool"] for n in nodes} == {"p1", "h100-8g"}
    bad = h.client.post(
        "/v1/agents/register",
        json={"node_name": "x", "site_id": "nowhere", "accelerator": "L40S", "gpus": 2},
        headers=h.h(prov),
    )
    assert bad.status_code == 404 and "fr1" in bad.json()["detail"][0]["msg"]
    bad = h.client.post(
        "/v1/agents/register",
        json={"node_name": "x", "site_id": "fr1", "accelerator": "H900", "gpus": 2},
        headers=h.h(prov),
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == "accelerator"
    bad = h.client.post(
        "/v1/agents/register",
        json={"node_name": "x", "site_id": "fr1", "pool_id": "p1", "accelerator": "L40S", "gpus": 4},
        headers=h.h(prov),
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == "pool_id"
    tenant = h.org("acme")
    assert (
        h.client.post(
            "/v1/agents/register",
            json={"node_name": "x", "site_id": "fr1", "accelerator": "L40S", "gpus": 2},
            headers=h.h(tenant),
        ).status_code
        == 403
    )
    assert n3


def test_fr_only_jobs_never_land_outside_france(harness: Harness) -> None:
    h = harness
    for sid, country in (("fr1", "FR"), ("de1", "DE"), ("us1", "US")):
        h.site(site_doc(sid, country))
    prov = h.org("prov", kind="provider")
    nodes = {sid: [h.node(prov, sid, f"{sid}-{i}") for i in range(2)] for sid in ("fr1", "de1", "us1")}
    t = h.org("acme")
    fr_jobs = [h.submit(t, job(residency="FR", name=f"fr{i}")).json()["id"] for i in range(10)]
    other = [h.submit(t, job(name=f"any{i}")).json()["id"] for i in range(10)]
    node_site = {n[0]: sid for sid, ns in nodes.items() for n in ns}
    placed: dict[str, str] = {}
    for _round in range(8):
        h.schedule()
        for ns in nodes.values():
            for n in ns:
                for a in _poll(h, *n)["assignments"]:
                    placed[a["job_id"]] = node_site[n[0]]
                    assert _report(h, n, a["job_id"], a["attempt"], "running").status_code == 200
                    assert _report(h, n, a["job_id"], a["attempt"], "succeeded", 0).status_code == 200
    assert set(fr_jobs) <= set(placed), "every FR job eventually ran"
    assert all(placed[j] == "fr1" for j in fr_jobs)
    assert {placed[j] for j in other if j in placed} - {"fr1"}, "unrestricted jobs use the other sites too"
    for j in fr_jobs:
        got = _job(h, t, j)
        assert got["state"] == "succeeded" and got["site"] == "fr1" and got["exit_code"] == 0


def test_tenant_residency_caps_job_residency(harness: Harness) -> None:
    h = harness
    h.site(site_doc("de1", "DE"))
    prov = h.org("prov", kind="provider")
    h.node(prov, "de1", "de-0")
    t = h.org("frgov", residency="FR")
    jid = h.submit(t, job()).json()["id"]
    h.schedule()
    got = _job(h, t, jid)
    assert got["state"] == "pending" and got["reason"] == "residency" and got["residency"] == "FR"
    r = h.submit(t, job(residency="EU"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == "residency"


def test_lifecycle_logs_usage_and_stale_reports(harness: Harness) -> None:
    h = harness
    h.site(site_doc("fr1"))
    prov = h.org("prov", kind="provider")
    n = h.node(prov, "fr1", "a")
    t = h.org("acme", projects=[{"id": "llm"}])
    jid = h.submit(t, job("L40S:2", project="llm", envs={"K": "v"}, setup="pip list", run="python x.py")).json()["id"]
    assert h.schedule()["start"] == 1
    got = _job(h, t, jid)
    assert got["state"] == "scheduled" and got["attempt"] == 1
    a = _poll(h, *n)["assignments"][0]
    assert (
        a["gpu_indices"] == [0, 1] and a["env"]["K"] == "v" and a["setup"] == "pip list" and a["run"] == "python x.py"
    )
    assert _poll(h, *n)["assignments"][0]["job_id"] == jid, "redelivered until the agent reports"
    assert _report(h, n, jid, 1, "running").status_code == 200
    assert _poll(h, *n)["assignments"] == []
    assert _job(h, t, jid)["state"] == "running"
    for off, data in ((0, "hello "), (6, "world\n"), (0, "hello ")):
        r = h.client.post(
            f"/v1/agents/{n[0]}/jobs/{jid}/logs",
            json={"attempt": 1, "stream": "stdout", "offset": off, "data": data},
            headers=h.h(n[1]),
        )
        assert r.status_code == 200
    assert h.client.get(f"/v1/jobs/{jid}/logs", headers=h.h(t)).text == "hello world\n"
    assert _report(h, n, jid, 7, "running").status_code == 409
    time.sleep(0.05)
    assert _report(h, n, jid, 1, "succeeded", 0).status_code == 200
    got = _job(h, t, jid)
    assert got["state"] == "succeeded" and got["exit_code"] == 0
    states = [e["state"] for e in h.client.get(f"/v1/jobs/{jid}/events", headers=h.h(t)).json()["events"]]
    assert states == ["pending", "scheduled", "running", "succeeded"]
    u = h.client.get("/v1/usage", headers=h.h(t)).json()
    assert u["projects"][0]["project"] == "llm" and u["total"]["attempts"] == 1
    assert u["total"]["gpu_hours"] > 0 and u["total"]["energy_kwh"] > 0 and u["total"]["carbon_g"] > 0
    assert u["total"]["cost_eur"] > 0
    assert _report(h, n, jid, 1, "running").status_code == 409, "a finished attempt cannot run again"


def test_cancel_running_job_stops_it_on_the_node(harness: Harness) -> None:
    h = harness
    h.site(site_doc("fr1"))
    n = h.node(h.org("prov", kind="provider"), "fr1", "a")
    t = h.org("acme")
    jid = h.submit(t, job()).json()["id"]
    h.schedule()
    _poll(h, *n)
    _report(h, n, jid, 1, "running")
    assert h.client.post(f"/v1/jobs/{jid}/cancel", headers=h.h(t)).json()["state"] == "cancelled"
    assert _poll(h, *n)["stop"] == [{"job_id": jid, "attempt": 1, "reason": "cancelled", "grace_s": 1.0}]
    assert _beat(h, n, [(jid, 1)])["stop"][0]["reason"] == "cancelled"
    assert _report(h, n, jid, 1, "cancelled").status_code == 200
    assert _beat(h, n, [])["stop"] == []
    assert _beat(h, n, [("j-unknown", 3)])["stop"] == [
        {"job_id": "j-unknown", "attempt": 3, "reason": "unknown", "grace_s": 1.0}
    ]


def test_lost_node_requeues_its_jobs(harness: Harness) -> None:
    h = harness
    h.site(site_doc("fr1"))
    prov = h.org("prov", kind="provider")
    a = h.node(prov, "fr1", "a")
    t = h.org("acme")
    jid = h.submit(t, job()).json()["id"]
    h.schedule()
    _poll(h, *a)
    _report(h, a, jid, 1, "running")
    later = time.time() + 60  # lost_after_s is 15 in the harness
    h.schedule(now=later)
    got = _job(h, t, jid)
    assert got["state"] == "pending" and got["attempt"] == 1
    events = h.client.get(f"/v1/jobs/{jid}/events", headers=h.h(t)).json()["events"]
    assert any(e["state"] == "preempted" and "node lost" in e["message"] for e in events)
    nodes = h.client.get("/v1/nodes", headers=h.h(prov)).json()["nodes"]
    assert nodes[0]["state"] == "lost"
    # the node comes back: the stale attempt is told to stop, and the job runs again as attempt 2
    assert _beat(h, a, [(jid, 1)])["stop"][0]["reason"] == "lost"
    h.schedule()
    got = _job(h, t, jid)
    assert got["state"] == "scheduled" and got["attempt"] == 2
    assert _report(h, a, jid, 1, "failed", 1).status_code == 409


def test_window_close_preempts_and_unavailable_nodes_get_no_work(harness: Harness) -> None:
    h = harness
    h.site(site_doc("fr1"))
    prov = h.org("prov", kind="provider")
    # a window that is open now and closes within the hour is hard to pin; use two nodes instead:
    # one never open (a window on a day that is not today), one always open
    today = time.strftime("%a", time.gmtime())
    other = "Mon" if today != "Mon" else "Tue"
    closed = h.node(prov, "fr1", "closed", availability=f"{other} 00:00-00:01", timezone="UTC")
    t = h.org("acme")
    jid = h.submit(t, job(preemptible=True)).json()["id"]
    h.schedule()
    assert _job(h, t, jid)["state"] == "pending"
    open_ = h.node(prov, "fr1", "open")
    _beat(h, open_, [], available=False)
    h.schedule()
    assert _job(h, t, jid)["state"] == "pending", "an agent that says it is unavailable gets no work"
    _beat(h, open_, [], available=True)
    h.schedule()
    assert _job(h, t, jid)["state"] == "scheduled"
    assert _poll(h, *closed)["assignments"] == []
    _poll(h, *open_)
    _report(h, open_, jid, 1, "running")
    # the owner closes the window: re-register the open node with a closed window
    reopened = h.node(prov, "fr1", "open", availability=f"{other} 00:00-00:01", timezone="UTC")
    h.schedule()
    got = _job(h, t, jid)
    assert got["state"] == "pending" and got["attempt"] == 1
    events = h.client.get(f"/v1/jobs/{jid}/events", headers=h.h(t)).json()["events"]
    assert any(e["state"] == "preempted" and e["reason"] == "window_closing" for e in events)
    assert _poll(h, *reopened)["stop"] == [{"job_id": jid, "attempt": 1, "reason": "preempted", "grace_s": 1.0}]


def test_inference_service_restarts_on_failure(harness: Harness) -> None:
    h = harness
    h.site(site_doc("fr1"))
    n = h.node(h.org("prov", kind="provider"), "fr1", "a")
    t = h.org("acme")
    jid = h.submit(t, job(kind="inference", run="serve")).json()["id"]
    h.schedule()
    _poll(h, *n)
    _report(h, n, jid, 1, "running")
    _report(h, n, jid, 1, "failed", 137)
    got = _job(h, t, jid)
    assert got["state"] == "pending" and got["reason"] == "restart"
    h.schedule()
    assert _job(h, t, jid)["attempt"] == 2
    _poll(h, *n)
    _report(h, n, jid, 2, "running")
    h.client.post(f"/v1/jobs/{jid}/cancel", headers=h.h(t))
    _report(h, n, jid, 2, "cancelled")
    assert _job(h, t, jid)["state"] == "cancelled"


def test_preempted_report_requeues_with_attempt_count(harness: Harness) -> None:
    h = harness
    h.site(site_doc("fr1"))
    n = h.node(h.org("prov", kind="provider"), "fr1", "a")
    t = h.org("acme")
    jid = h.submit(t, job(preemptible=True)).json()["id"]
    h.schedule()
    _poll(h, *n)
    _report(h, n, jid, 1, "running")
    assert _report(h, n, jid, 1, "preempted").status_code == 200
    assert _job(h, t, jid)["state"] == "pending"
    h.schedule()
    got = _job(h, t, jid)
    assert got["state"] == "scheduled" and got["attempt"] == 2


def test_explain_names_the_rule_per_site(harness: Harness) -> None:
    h = harness
    h.site(site_doc("fr1"))
    h.site(site_doc("de1", "DE"))
    prov = h.org("prov", kind="provider")
    h.node(prov, "fr1", "a")
    h.node(prov, "de1", "b")
    t = h.org("acme")
    jid = h.submit(t, job("L40S:2", residency="FR", num_nodes=2)).json()["id"]
    h.schedule()
    ex = h.client.get(f"/v1/jobs/{jid}/explain", headers=h.h(t)).json()
    by = {v["site"]: v for v in ex["sites"]}
    assert by["de1"]["reason"] == "residency" and not by["de1"]["eligible"]
    assert by["fr1"]["eligible"] is False and by["fr1"]["reason"] in ("capacity", "gang_shape")
    assert ex["state"] == "pending" and ex["reason"]


def test_logs_follow_streams_until_the_attempt_ends(harness: Harness) -> None:
    h = harness
    h.site(site_doc("fr1"))
    n = h.node(h.org("prov", kind="provider"), "fr1", "a")
    t = h.org("acme")
    jid = h.submit(t, job()).json()["id"]
    h.schedule()
    _poll(h, *n)
    _report(h, n, jid, 1, "running")
    for stream, off, data in (("stdout", 0, "one\n"), ("stderr", 0, "warn\n"), ("stdout", 4, "two\n")):
        h.client.post(
            f"/v1/agents/{n[0]}/jobs/{jid}/logs",
            json={"attempt": 1, "stream": stream, "offset": off, "data": data},
            headers=h.h(n[1]),
        )
    _report(h, n, jid, 1, "failed", 3)
    with h.client.stream("GET", f"/v1/jobs/{jid}/logs", params={"follow": True}, headers=h.h(t)) as r:
        body = r.read().decode()
    assert sorted(body.splitlines()) == ["one", "two", "warn"]
    only = h.client.get(f"/v1/jobs/{jid}/logs", params={"stream": "stderr"}, headers=h.h(t)).text
    assert only == "warn\n"
    got = _job(h, t, jid)
    assert got["state"] == "failed" and got["exit_code"] == 3
    big = h.client.post(
        f"/v1/agents/{n[0]}/jobs/{jid}/logs",
        json={"attempt": 1, "stream": "stdout", "offset": 8, "data": "x" * (70 * 1024)},
        headers=h.h(n[1]),
    )
    assert big.status_code == 422


def test_public_site_allocation_is_charged_by_what_ended_attempts_used(harness: Harness) -> None:
    from hexagrid.server.models import UsageRecord

    h = harness
    h.site(site_doc("jz", kind="public_supercomputer", access="academic", price_eur_per_gpu_h={}))
    n = h.node(h.org("prov", kind="provider"), "jz", "a")
    t = h.org("lab", tenant_class="academic", projects=[{"id": "ad011", "allocations_gpu_h": {"jz": 10.0}}])
    first = h.submit(t, job(project="ad011", expected_duration="1h")).json()["id"]
    h.schedule()
    assert _job(h, t, first)["state"] == "scheduled"
    _poll(h, *n)
    _report(h, n, first, 1, "running")
    _report(h, n, first, 1, "succeeded", 0)
    ctx = h.client.app.state.ctx  # type: ignore[attr-defined]
    with ctx.db.session() as s:  # the attempt above lasted milliseconds: say it used 9.5 GPU-hours
        s.get(UsageRecord, (first, 1)).gpu_hours = 9.5
    second = h.submit(t, job(project="ad011", expected_duration="1h")).json()["id"]
    h.schedule()
    got = _job(h, t, second)
    assert got["state"] == "pending" and got["reason"] == "allocation"
    commercial = h.org("corp", tenant_class="commercial")
    third = h.submit(commercial, job()).json()["id"]
    h.schedule()
    assert _job(h, commercial, third)["reason"] == "access"
