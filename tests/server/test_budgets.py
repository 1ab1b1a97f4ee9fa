"""Budgets enforced by the live loop in-process: an organisation or project that has spent its budget
gets no new start (reason ``budget``), others do; raising the budget frees its jobs; explain, usage and
metrics say so. Spend is the accounted EUR of ended attempts plus what running attempts cost so far."""

from __future__ import annotations

import time
from typing import Any

import pytest
from server_harness import ADMIN, Harness, job, site_doc
from sqlalchemy import update

from hexagrid.server.models import Job


def _job(h: Harness, token: str, jid: str) -> dict[str, Any]:
    return h.client.get(f"/v1/jobs/{jid}", headers=h.h(token)).json()  # type: ignore[no-any-return]


def _poll(h: Harness, node: tuple[str, str]) -> list[dict[str, Any]]:
    r = h.client.get(f"/v1/agents/{node[0]}/assignments", params={"wait_s": 0}, headers=h.h(node[1]))
    assert r.status_code == 200, r.text
    return r.json()["assignments"]  # type: ignore[no-any-return]


def _report(h: Harness, node: tuple[str, str], jid: str, attempt: int, state: str) -> None:
    r = h.client.post(
        f"/v1/agents/{node[0]}/jobs/{jid}/state",
        json={"attempt": attempt, "state": state, "exit_code": 0 if state == "succeeded" else None},
        headers=h.h(node[1]),
    )
    assert r.status_code == 200, r.text


def _beat(h: Harness, node: tuple[str, str], running: list[tuple[str, int]]) -> dict[str, Any]:
    body = {"available": True, "running": [{"job_id": j, "attempt": a, "pid": None} for j, a in running]}
    r = h.client.post(f"/v1/agents/{node[0]}/heartbeat", json=body, headers=h.h(node[1]))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _ran_for(h: Harness, jid: str, seconds: float) -> None:
    """Say the running attempt started ``seconds`` ago (so it has cost something without waiting)."""
    with h.loop.ctx.db.session() as s:
        s.execute(update(Job).where(Job.id == jid).values(started_s=Job.started_s - seconds))


def _patch(h: Harness, path: str, budget: float | None, token: str = ADMIN) -> Any:
    return h.client.patch(path, json={"budget_eur": budget}, headers=h.h(token))


def _queue_length(h: Harness, reason: str) -> float:
    text = h.client.get("/metrics").text
    line = next((x for x in text.splitlines() if x.startswith(f'hexagrid_queue_length{{reason="{reason}"}}')), None)
    return 0.0 if line is None else float(line.rsplit(" ", 1)[1])


@pytest.fixture
def fleet(harness: Harness) -> tuple[Harness, list[tuple[str, str]]]:
    """One French site at 1 EUR per L40S GPU-hour (no energy cost) with two 2-GPU nodes."""
    harness.site(site_doc("fr1"))
    prov = harness.org("prov", kind="provider")
    return harness, [harness.node(prov, "fr1", f"n{i}") for i in range(2)]


def test_zero_budget_holds_the_org_while_another_org_starts(fleet: tuple[Harness, list[tuple[str, str]]]) -> None:
    h, nodes = fleet
    broke = h.org("acme", budget_eur=0)
    other = h.org("beta")
    held = h.submit(broke, job(name="held")).json()["id"]
    free = h.submit(other, job(name="free")).json()["id"]
    for _ in range(3):
        h.schedule()
        for n in nodes:
            _beat(h, n, [])
    got = _job(h, broke, held)
    assert got["state"] == "pending" and got["attempt"] == 0
    assert got["reason"] == "budget"
    assert got["message"] == "org acme has spent 0.00 of its 0.00 EUR budget"
    assert _job(h, other, free)["state"] == "scheduled"
    delivered = {a["job_id"] for n in nodes for a in _poll(h, n)}
    assert delivered == {free}, "the held job never reaches a node"
    assert _queue_length(h, "budget") == 1

    ex = h.client.get(f"/v1/jobs/{held}/explain", headers=h.h(broke)).json()
    assert ex["reason"] == "budget" and ex["message"] == "org acme has spent 0.00 of its 0.00 EUR budget"
    assert ex["budgets"] == [
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
    assert [v["site"] for v in ex["sites"]] == ["fr1"], "the sites still say where it could run"
    # the other org's explain of its own (scheduled) job carries no budget
    assert h.client.get(f"/v1/jobs/{free}/explain", headers=h.h(other)).json()["budgets"] == []

    # only an admin may change a budget; a bad value changes nothing
    assert _patch(h, "/v1/orgs/acme", 100, token=broke).status_code == 403
    assert _patch(h, "/v1/orgs/acme", -1).status_code == 422
    assert _patch(h, "/v1/orgs/nobody", 1).status_code == 404
    assert h.client.patch("/v1/orgs/acme", json={}, headers=h.h(ADMIN)).status_code == 422
    h.schedule()
    assert _job(h, broke, held)["reason"] == "budget"

    r = _patch(h, "/v1/orgs/acme", 100)
    assert r.status_code == 200 and r.json()["budget_eur"] == 100
    ex = h.client.get(f"/v1/jobs/{held}/explain", headers=h.h(broke)).json()
    assert ex["reason"] is None and "next scheduling pass" in ex["message"]
    assert ex["budgets"][0]["exhausted"] is False and ex["budgets"][0]["remaining_eur"] == 100
    assert h.schedule()["start"] == 1
    assert _job(h, broke, held)["state"] == "scheduled"
    assert _queue_length(h, "budget") == 0


def test_spend_counts_ended_and_running_attempts(fleet: tuple[Harness, list[tuple[str, str]]]) -> None:
    h, nodes = fleet
    t = h.org("acme", budget_eur=1.5)

    def run_one(name: str) -> tuple[str, tuple[str, str]]:
        jid = h.submit(t, job(name=name)).json()["id"]
        assert h.schedule().get("start") == 1
        node = next(n for n in nodes if any(a["job_id"] == jid for a in _poll(h, n)))
        _report(h, node, jid, 1, "running")
        return jid, node

    # an hour on one GPU at 1 EUR/GPU-h, ended: 1.00 spent of 1.50
    first, node = run_one("first")
    _ran_for(h, first, 3600)
    _report(h, node, first, 1, "succeeded")
    u = h.client.get("/v1/usage", headers=h.h(t)).json()
    assert u["total"]["cost_eur"] == pytest.approx(1.0, abs=0.01)
    [b] = u["budgets"]
    assert b["scope"] == "org" and b["budget_eur"] == 1.5
    assert b["spent_eur"] == pytest.approx(u["total"]["cost_eur"], abs=0.01)
    assert b["remaining_eur"] == pytest.approx(0.5, abs=0.01) and b["exhausted"] is False

    # 1.00 < 1.50: the next job starts; once it has run an hour the org has spent 2.00
    second, node2 = run_one("second")
    _ran_for(h, second, 3600)
    third = h.submit(t, job(name="third")).json()["id"]
    assert h.schedule().get("start") is None
    got = _job(h, t, third)
    assert got["state"] == "pending" and got["reason"] == "budget"
    assert got["message"] == "org acme has spent 2.00 of its 1.50 EUR budget"
    u = h.client.get("/v1/usage", headers=h.h(t)).json()
    [b] = u["budgets"]
    assert b["spent_eur"] == pytest.approx(u["total"]["cost_eur"] + u["running"]["cost_eur"], abs=0.01)
    assert b["spent_eur"] == pytest.approx(2.0, abs=0.01) and b["remaining_eur"] == 0 and b["exhausted"] is True

    # the running job is not stopped for it
    assert _beat(h, node2, [(second, 1)])["stop"] == []
    assert _job(h, t, second)["state"] == "running"

    # raising the budget above the spend lets the held job start at the next pass
    assert _patch(h, "/v1/orgs/acme", 10).status_code == 200
    assert h.schedule().get("start") == 1
    assert _job(h, t, third)["state"] == "scheduled"
    assert _job(h, t, second)["state"] == "running"


def test_project_budget_holds_only_that_project(fleet: tuple[Harness, list[tuple[str, str]]]) -> None:
    h, _nodes = fleet
    lab = h.org("lab", projects=[{"id": "a", "budget_eur": 0}, {"id": "b"}])
    in_a = h.submit(lab, job(name="a", project="a")).json()["id"]
    in_b = h.submit(lab, job(name="b", project="b")).json()["id"]
    no_project = h.submit(lab, job(name="none")).json()["id"]
    h.schedule()
    got = _job(h, lab, in_a)
    assert got["state"] == "pending" and got["reason"] == "budget"
    assert got["message"] == "project a of org lab has spent 0.00 of its 0.00 EUR budget"
    assert _job(h, lab, in_b)["state"] == "scheduled"
    assert _job(h, lab, no_project)["state"] == "scheduled", "with two projects, a job without one is not a's"

    ex = h.client.get(f"/v1/jobs/{in_a}/explain", headers=h.h(lab)).json()
    assert ex["reason"] == "budget" and [(b["scope"], b["project"], b["exhausted"]) for b in ex["budgets"]] == [
        ("project", "a", True)
    ]
    u = h.client.get("/v1/usage", headers=h.h(lab)).json()
    assert [(b["scope"], b["project"], b["budget_eur"], b["remaining_eur"]) for b in u["budgets"]] == [
        ("project", "a", 0.0, 0.0)
    ], "only the budgets that are set are listed"

    # an organisation's only project is charged for jobs that name none (as allocations are)
    solo = h.org("solo", projects=[{"id": "x", "budget_eur": 0}])
    unnamed = h.submit(solo, job(name="unnamed")).json()["id"]
    h.schedule()
    got = _job(h, solo, unnamed)
    assert got["reason"] == "budget" and got["message"].startswith("project x of org solo has spent")

    assert _patch(h, "/v1/orgs/lab/projects/nope", 5).status_code == 404
    r = _patch(h, "/v1/orgs/lab/projects/a", None)  # lifted: unlimited
    assert r.status_code == 200
    assert {p["id"]: p["budget_eur"] for p in r.json()["projects"]} == {"a": None, "b": None}
    h.schedule()
    assert _job(h, lab, in_a)["state"] == "scheduled"
    assert h.client.get("/v1/usage", headers=h.h(lab)).json()["budgets"] == []


def test_an_org_budget_holds_every_project_and_jobs_wait_for_budget_before_capacity(harness: Harness) -> None:
    h = harness
    h.site(site_doc("fr1"))  # no node registered: nothing could start anyway
    t = h.org("acme", budget_eur=0, projects=[{"id": "p", "budget_eur": 50}])
    u = h.org("beta")
    jid = h.submit(t, job(project="p")).json()["id"]
    other = h.submit(u, job()).json()["id"]
    h.schedule(now=time.time())
    assert _job(h, t, jid)["reason"] == "budget", "the budget binds before capacity"
    assert _job(h, u, other)["reason"] == "capacity"
    ex = h.client.get(f"/v1/jobs/{jid}/explain", headers=h.h(t)).json()
    assert [(b["scope"], b["exhausted"]) for b in ex["budgets"]] == [("org", True), ("project", False)]
    assert ex["message"] == "org acme has spent 0.00 of its 0.00 EUR budget"


@pytest.mark.parametrize("bad", ["Infinity", "-Infinity", "NaN", "-1", "1e300"])
def test_org_create_rejects_a_non_finite_or_negative_budget(harness: Harness, bad: str) -> None:
    for doc, loc in (
        ('{"id": "acme", "name": "Acme", "budget_eur": %s}', ["body", "budget_eur"]),
        (
            '{"id": "acme", "name": "Acme", "projects": [{"id": "p", "budget_eur": %s}]}',
            ["body", "projects", 0, "budget_eur"],
        ),
    ):
        r = harness.client.post(
            "/v1/orgs", content=(doc % bad).encode(), headers={**harness.h(ADMIN), "Content-Type": "application/json"}
        )
        assert r.status_code == 422, r.text
        assert [e["loc"] for e in r.json()["detail"]] == [loc]
    # nothing was stored: the organisation can still be created
    ok = harness.client.post("/v1/orgs", json={"id": "acme", "name": "Acme"}, headers=harness.h(ADMIN))
    assert ok.status_code == 201
    # the PATCH route's refusal echoes the input too: a 422, not a 500 from encoding it
    r = harness.client.patch(
        "/v1/orgs/acme",
        content=b'{"budget_eur": %s}' % bad.encode(),
        headers={**harness.h(ADMIN), "Content-Type": "application/json"},
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "budget_eur"]


def test_org_create_keeps_a_finite_budget(harness: Harness) -> None:
    r = harness.client.post(
        "/v1/orgs", json={"id": "acme", "name": "Acme", "budget_eur": 12.5}, headers=harness.h(ADMIN)
    )
    assert r.status_code == 201 and r.json()["budget_eur"] == 12.5
