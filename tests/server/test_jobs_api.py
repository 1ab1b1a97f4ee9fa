"""The jobs API in-process: formats, errors that name the field, idempotency, pagination, cancel, scopes."""

from __future__ import annotations

from typing import Any

from server_harness import ADMIN, Harness, job

YAML = """
name: train-small
resources:
  accelerators: L40S:2
num_nodes: 1
envs: {EPOCHS: 3}
run: python train.py
residency: FR
walltime: 2h
"""

SBATCH = """#!/bin/bash
#SBATCH --job-name=sb1
#SBATCH --nodes=1
#SBATCH --gres=gpu:l40s:2
#SBATCH --time=01:00:00
srun python train.py
"""


def _count(h: Harness, token: str) -> int:
    return len(h.client.get("/v1/jobs", headers=h.h(token)).json()["jobs"])


def test_submit_json_yaml_and_sbatch(harness: Harness) -> None:
    t = harness.org("acme")
    r = harness.submit(t, job(name="j1"))
    assert r.status_code == 201 and r.json()["state"] == "pending" and r.json()["id"].startswith("j-")
    r = harness.client.post("/v1/jobs", content=YAML, headers=harness.h(t) | {"content-type": "application/yaml"})
    assert r.status_code == 201, r.text
    assert r.json()["spec"]["resources"]["gpus"] == 2 and r.json()["residency"] == "FR"
    assert r.json()["spec"]["walltime_s"] == 7200
    r = harness.client.post("/v1/jobs", content=SBATCH, headers=harness.h(t) | {"content-type": "text/x-sbatch"})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "sb1" and r.json()["spec"]["source_format"] == "sbatch"
    r = harness.client.post("/v1/jobs", content=SBATCH, headers=harness.h(t) | {"content-type": "text/plain"})
    assert r.status_code == 201 and r.json()["spec"]["source_format"] == "sbatch"
    assert _count(harness, t) == 4


def _detail(r: Any) -> list[dict[str, str]]:
    return r.json()["detail"]  # type: ignore[no-any-return]


def test_malformed_specs_are_422_naming_the_field_and_store_nothing(harness: Harness) -> None:
    t = harness.org("acme")
    cases = [
        ("application/json", '{"resources": {"accelerators": "H900:8"}, "run": "x"}', "resources.accelerators", "H900"),
        (
            "application/json",
            '{"resources": {"accelerators": "H100:8"}, "run": "x", "residency": "MARS"}',
            "residency",
            "MARS",
        ),
        (
            "application/json",
            '{"resources": {"accelerators": "H100:8"}, "run": "x", "walltime": "soon"}',
            "walltime",
            "soon",
        ),
        (
            "application/json",
            '{"resources": {"accelerators": "H100:8"}, "run": "x", "colour": 1}',
            "colour",
            "unknown field",
        ),
        ("application/json", '{"resources": {"accelerators": "H100:8"}', "body", "not valid JSON"),
        (
            "application/json",
            '{"resources": {"accelerators": "H100:99"}, "run": "x"}',
            "resources.accelerators",
            "1-16",
        ),
        ("application/json", '{"resources": {"accelerators": "H100:8"}}', "run", "required"),
        ("application/yaml", "resources: [unclosed", "line", "not valid YAML"),
        ("application/yaml", "- a\n- b\n", "", "mapping"),
        (
            "text/x-sbatch",
            "#!/bin/sh\n#SBATCH --gres=gpu:h100:8\n#SBATCH --exclusive\n",
            "#SBATCH --exclusive",
            "unsupported directive",
        ),
        ("text/x-sbatch", "#!/bin/sh\n#SBATCH --nodes=2-4 --gres=gpu:h100:8\n", "#SBATCH --nodes", "2-4"),
        ("text/x-sbatch", "#!/bin/sh\n#SBATCH --time=forever --gres=gpu:h100:8\n", "#SBATCH --time", "forever"),
        ("text/x-sbatch", "#!/bin/sh\nsrun hostname\n", "#SBATCH", "no GPUs"),
        ("application/xml", "<job/>", "Content-Type", "accepted"),
    ]
    for ctype, body, loc, needle in cases:
        r = harness.client.post("/v1/jobs", content=body.encode(), headers=harness.h(t) | {"content-type": ctype})
        assert r.status_code == 422, (body, r.status_code, r.text)
        d = _detail(r)
        assert any(e["loc"].startswith(loc) and (needle in e["msg"] or needle in e["loc"]) for e in d), (body, d)
    assert _count(harness, t) == 0


def test_each_unsupported_sbatch_directive_is_its_own_error(harness: Harness) -> None:
    t = harness.org("acme")
    body = "#!/bin/sh\n#SBATCH --gres=gpu:h100:8\n#SBATCH --exclusive\n#SBATCH --qos=high\n#SBATCH -c 4\n"
    r = harness.client.post("/v1/jobs", content=body, headers=harness.h(t) | {"content-type": "text/x-sbatch"})
    assert r.status_code == 422
    locs = [e["loc"] for e in _detail(r)]
    assert any("--exclusive" in x for x in locs) and any("--qos" in x for x in locs) and any("-c" in x for x in locs)


def test_idempotent_submit_is_stored_once(harness: Harness) -> None:
    t = harness.org("acme")
    first = harness.submit(t, job(name="once"), **{"Idempotency-Key": "k-1"})
    again = harness.submit(t, job(name="once"), **{"Idempotency-Key": "k-1"})
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    assert _count(harness, t) == 1
    clash = harness.submit(t, job(name="other"), **{"Idempotency-Key": "k-1"})
    assert clash.status_code == 409 and "Idempotency-Key" in _detail(clash)[0]["msg"]
    # the same key in another organisation is another job
    t2 = harness.org("globex")
    other = harness.submit(t2, job(name="once"), **{"Idempotency-Key": "k-1"})
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    assert _count(harness, t) == 1


def test_list_filters_and_pagination(harness: Harness) -> None:
    t = harness.org("acme", projects=[{"id": "p1"}])
    ids = [harness.submit(t, job(name=f"n{i}", project="p1" if i % 2 else None)).json()["id"] for i in range(7)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = harness.client.get("/v1/jobs", params=params, headers=harness.h(t)).json()
        seen += [j["id"] for j in page["jobs"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids[::-1]
    p1 = harness.client.get("/v1/jobs", params={"project": "p1"}, headers=harness.h(t)).json()["jobs"]
    assert {j["id"] for j in p1} == {ids[i] for i in (1, 3, 5)}
    assert harness.client.get("/v1/jobs", params={"state": "running"}, headers=harness.h(t)).json()["jobs"] == []
    bad = harness.client.get("/v1/jobs", params={"cursor": "nonsense"}, headers=harness.h(t))
    assert bad.status_code == 422 and _detail(bad)[0]["loc"] == "cursor"
    unknown = harness.submit(t, job(project="nope"))
    assert unknown.status_code == 422 and _detail(unknown)[0]["loc"] == "project"


def test_cancel_pending_and_events(harness: Harness) -> None:
    t = harness.org("acme")
    jid = harness.submit(t, job()).json()["id"]
    r = harness.client.post(f"/v1/jobs/{jid}/cancel", headers=harness.h(t))
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    ev = harness.client.get(f"/v1/jobs/{jid}/events", headers=harness.h(t)).json()["events"]
    assert [e["state"] for e in ev] == ["pending", "cancelled"]
    again = harness.client.post(f"/v1/jobs/{jid}/cancel", headers=harness.h(t))
    assert again.status_code == 200 and again.json()["state"] == "cancelled"


def test_scopes_and_tokens(harness: Harness) -> None:
    reader = harness.org("acme", scopes=("read",))
    r = harness.submit(reader, job())
    assert r.status_code == 403 and "submit" in r.json()["detail"]
    assert harness.client.get("/v1/jobs").status_code == 401
    assert harness.client.get("/v1/jobs", headers=harness.h("hxg_wrong")).status_code == 401
    assert harness.client.post("/v1/orgs", json={"id": "x", "name": "x"}, headers=harness.h(reader)).status_code == 403
    prov = harness.org("prov", kind="provider")
    assert harness.client.get("/v1/jobs", headers=harness.h(prov)).status_code == 403
    bad = harness.client.post("/v1/orgs/acme/tokens", json={"scopes": ["root"]}, headers=harness.h(ADMIN))
    assert bad.status_code == 422


def test_body_size_limit(harness: Harness) -> None:
    t = harness.org("acme")
    big = "x" * (2 << 20)
    r = harness.client.post(
        "/v1/jobs", content=f'{{"run": "{big}"}}', headers=harness.h(t) | {"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert _count(harness, t) == 0


def test_tokens_are_stored_hashed(harness: Harness) -> None:
    from sqlalchemy import select

    from hexagrid.server.models import Token

    t = harness.org("acme")
    ctx = harness.client.app.state.ctx  # type: ignore[attr-defined]
    with ctx.db.session() as s:
        stored = [row.hash for row in s.execute(select(Token)).scalars()]
    assert t not in stored and ADMIN not in stored
    assert all(len(h) == 64 for h in stored)
