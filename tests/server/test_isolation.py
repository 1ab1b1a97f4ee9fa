"""Tenant isolation on every endpoint: another tenant's job is 'not found' (404), never 'forbidden'."""

from __future__ import annotations

from server_harness import Harness, job, site_doc


def test_a_tenant_never_sees_or_touches_another_tenants_work(harness: Harness) -> None:
    h = harness
    h.site(site_doc("fr1"))
    prov = h.org("prov", kind="provider")
    node = h.node(prov, "fr1", "a")
    other_node = h.node(h.org("prov2", kind="provider"), "fr1", "b")
    acme = h.org("acme", projects=[{"id": "secret"}])
    globex = h.org("globex")
    jid = h.submit(acme, job(name="acme-job", project="secret")).json()["id"]
    h.schedule()
    a = h.client.get(f"/v1/agents/{node[0]}/assignments", headers=h.h(node[1])).json()["assignments"]
    target = node if a else other_node
    h.client.post(
        f"/v1/agents/{target[0]}/jobs/{jid}/state", json={"attempt": 1, "state": "running"}, headers=h.h(target[1])
    )
    h.client.post(
        f"/v1/agents/{target[0]}/jobs/{jid}/logs",
        json={"attempt": 1, "stream": "stdout", "offset": 0, "data": "x"},
        headers=h.h(target[1]),
    )
    g = h.h(globex)
    for method, path in [
        ("GET", f"/v1/jobs/{jid}"),
        ("POST", f"/v1/jobs/{jid}/cancel"),
        ("GET", f"/v1/jobs/{jid}/events"),
        ("GET", f"/v1/jobs/{jid}/logs"),
        ("GET", f"/v1/jobs/{jid}/explain"),
    ]:
        r = h.client.request(method, path, headers=g)
        assert r.status_code == 404, (path, r.status_code, r.text)
        assert "acme" not in r.text and "secret" not in r.text
    assert h.client.get("/v1/jobs", headers=g).json()["jobs"] == []
    assert h.client.get("/v1/jobs", params={"name": "acme-job"}, headers=g).json()["jobs"] == []
    usage = h.client.get("/v1/usage", headers=g).json()
    assert usage["tenant"] == "globex" and usage["projects"] == [] and usage["running"]["jobs"] == 0
    # idempotency keys are per organisation: globex cannot fish for acme's job with acme's key
    r = h.submit(globex, job(name="acme-job", project=None), **{"Idempotency-Key": "shared"})
    h.submit(acme, job(name="x"), **{"Idempotency-Key": "shared2"})
    assert r.json()["id"] != jid
    # the job is untouched
    got = h.client.get(f"/v1/jobs/{jid}", headers=h.h(acme)).json()
    assert got["state"] == "running" and got["tenant"] == "acme"
    # node credentials work for their own node only
    other = other_node if target is node else node
    for method, path, body in [
        ("POST", f"/v1/agents/{target[0]}/heartbeat", {}),
        ("GET", f"/v1/agents/{target[0]}/assignments", None),
        ("POST", f"/v1/agents/{target[0]}/jobs/{jid}/state", {"attempt": 1, "state": "failed"}),
        (
            "POST",
            f"/v1/agents/{target[0]}/jobs/{jid}/logs",
            {"attempt": 1, "stream": "stdout", "offset": 1, "data": "y"},
        ),
    ]:
        r = h.client.request(method, path, json=body, headers=h.h(other[1]))
        assert r.status_code == 404, (path, r.status_code)
        r = h.client.request(method, path, json=body, headers=g)
        assert r.status_code == 404, (path, r.status_code)
    # a node cannot report on a job that was not assigned to it
    r = h.client.post(
        f"/v1/agents/{other[0]}/jobs/{jid}/state", json={"attempt": 1, "state": "failed"}, headers=h.h(other[1])
    )
    assert r.status_code == 404
    assert h.client.get(f"/v1/jobs/{jid}", headers=h.h(acme)).json()["state"] == "running"
    # a tenant token cannot act as an agent, nor a provider see tenants' jobs
    assert (
        h.client.post(
            "/v1/agents/register",
            json={"node_name": "z", "site_id": "fr1", "accelerator": "L40S", "gpus": 2},
            headers=g,
        ).status_code
        == 403
    )
    assert h.client.get("/v1/jobs", headers=h.h(prov)).status_code == 403
    assert h.client.get("/v1/usage", headers=h.h(prov)).status_code == 403
    # providers see their own nodes only
    assert [n["name"] for n in h.client.get("/v1/nodes", headers=h.h(prov)).json()["nodes"]] == ["a"]
