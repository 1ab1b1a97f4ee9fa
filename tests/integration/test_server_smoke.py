"""A real server process on SQLite and PostgreSQL: start, health, submit, restart without losing jobs."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.integration


def test_restart_loses_no_job(server: Any) -> None:
    sp = server(HEXAGRID_SCHEDULER_ENABLED="false")
    tok = sp.make_org("acme")
    c = sp.client(tok)
    ids = []
    for i in range(5):
        r = c.post("/v1/jobs", json={"name": f"j{i}", "resources": {"accelerators": "L40S:1"}, "run": "true"})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    sp.kill()  # a crash, not a clean shutdown
    sp.start()
    c = sp.client(tok)
    got = {j["id"]: j for j in c.get("/v1/jobs").json()["jobs"]}
    assert set(ids) <= set(got)
    assert all(got[i]["state"] == "pending" for i in ids)
    assert [e["state"] for e in c.get(f"/v1/jobs/{ids[0]}/events").json()["events"]] == ["pending"]
