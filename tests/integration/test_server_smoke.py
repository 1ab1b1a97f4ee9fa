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


def test_a_crash_right_after_group_committed_submits_loses_none_acknowledged(server: Any) -> None:
    """Concurrent submits share transactions (group commit); each 201 comes after its commit, so a
    crash at once after the last answer loses none of them."""
    from concurrent.futures import ThreadPoolExecutor

    sp = server(HEXAGRID_SCHEDULER_ENABLED="false")
    tok = sp.make_org("acme")
    body = {"name": "burst", "resources": {"accelerators": "L40S:1"}, "run": "true"}

    def post(n: int) -> list[str]:
        with sp.client(tok) as c:
            out = []
            for _ in range(n):
                r = c.post("/v1/jobs", json=body)
                assert r.status_code == 201, r.text
                out.append(r.json()["id"])
            return out

    with ThreadPoolExecutor(16) as pool:
        ids = [j for got in pool.map(post, [8] * 16) for j in got]
    sp.kill()  # SIGKILL right after the last acknowledgement
    sp.start()
    c = sp.client(tok)
    stored = {j["id"] for j in c.get("/v1/jobs", params={"limit": 1000}).json()["jobs"]}
    assert len(ids) == 128 and set(ids) <= stored
    assert [e["state"] for e in c.get(f"/v1/jobs/{ids[-1]}/events").json()["events"]] == ["pending"]


def test_concurrent_retries_with_one_idempotency_key_store_one_job(server: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    sp = server(HEXAGRID_SCHEDULER_ENABLED="false")
    tok = sp.make_org("acme")
    body = {"name": "once", "resources": {"accelerators": "L40S:1"}, "run": "true"}

    def post(_i: int) -> tuple[int, str]:
        with sp.client(tok) as c:
            r = c.post("/v1/jobs", json=body, headers={"Idempotency-Key": "retry-me"})
            return r.status_code, r.json()["id"]

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(post, range(16)))
    assert {code for code, _ in got} <= {200, 201} and sum(code == 201 for code, _ in got) == 1
    assert len({jid for _, jid in got}) == 1
    assert len(sp.client(tok).get("/v1/jobs").json()["jobs"]) == 1


def test_server_stops_cleanly_even_if_its_scheduler_process_died(sqlite_server: Any) -> None:
    import os
    import signal
    import subprocess
    import time
    from pathlib import Path

    sp = sqlite_server()
    assert sp.proc is not None
    pid = sp.proc.pid
    deadline = time.monotonic() + 20
    children: list[int] = []
    while not children and time.monotonic() < deadline:
        for task in Path(f"/proc/{pid}/task").iterdir():
            children += [int(c) for c in (task / "children").read_text().split()]
        children = [c for c in children if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text()]
        time.sleep(0.1)
    assert children, "the scheduling loop runs in a child process"
    os.kill(children[0], signal.SIGKILL)
    sp.proc.send_signal(signal.SIGTERM)
    try:
        code = sp.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        sp.proc.kill()
        raise AssertionError("the server hung on shutdown") from None
    assert code is not None
    sp.proc = None
