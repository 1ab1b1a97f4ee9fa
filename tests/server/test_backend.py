"""The agent-pull backend: GPU indices per node, gangs across nodes, and all-or-nothing starts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hexagrid.backends import AgentPullBackend
from hexagrid.domain import Start
from hexagrid.server.models import Assignment, Job


@dataclass
class _Node:
    id: str
    gpus: int


@dataclass
class _Session:
    added: list[Any] = field(default_factory=list)

    def add(self, obj: Any) -> None:
        self.added.append(obj)


def _job() -> Job:
    return Job(
        id="j-1",
        org_id="acme",
        name="",
        kind="training",
        state="pending",
        attempt=0,
        spec_json="{}",
        gpus=4,
        submitted_s=0.0,
    )


def test_gang_start_takes_free_gpus_on_each_node() -> None:
    nodes = {("s", "p"): [_Node("n-a", 4), _Node("n-b", 4)]}
    used = {"n-a": {0}}
    s = _Session()
    job = _job()
    got = AgentPullBackend().start(
        s, job=job, start=Start("j-1", "s", "p", 2, 2, node_indices=(0, 1)), pool_nodes=nodes, used_gpus=used, now=5.0
    )
    assert got == ["n-a", "n-b"]
    rows = [a for a in s.added if isinstance(a, Assignment)]
    assert [(a.node_id, a.rank, json.loads(a.gpu_indices_json)) for a in rows] == [
        ("n-a", 0, [1, 2]),
        ("n-b", 1, [0, 1]),
    ]
    assert job.state == "scheduled" and job.attempt == 1 and used == {"n-a": {0, 1, 2}, "n-b": {0, 1}}


def test_a_start_that_cannot_be_honoured_leaves_no_trace() -> None:
    nodes = {("s", "p"): [_Node("n-a", 4), _Node("n-b", 4)]}
    used = {"n-b": {0, 1, 2}}
    s = _Session()
    job = _job()
    b = AgentPullBackend()
    assert (
        b.start(
            s,
            job=job,
            start=Start("j-1", "s", "p", 2, 2, node_indices=(0, 1)),
            pool_nodes=nodes,
            used_gpus=used,
            now=1.0,
        )
        is None
    )
    assert (
        b.start(
            s, job=job, start=Start("j-1", "s", "p", 1, 1, node_indices=(7,)), pool_nodes=nodes, used_gpus=used, now=1.0
        )
        is None
    )
    assert (
        b.start(
            s,
            job=job,
            start=Start("j-1", "s", "p", 2, 1, node_indices=(0, 0)),
            pool_nodes=nodes,
            used_gpus=used,
            now=1.0,
        )
        is None
    )
    assert s.added == [] and job.state == "pending" and job.attempt == 0 and used == {"n-b": {0, 1, 2}}
    # no node indices: the first nodes with room
    assert b.start(s, job=job, start=Start("j-1", "s", "p", 1, 2), pool_nodes=nodes, used_gpus=used, now=1.0) == ["n-a"]
