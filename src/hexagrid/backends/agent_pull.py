"""The agent-pull backend: a ``Start`` becomes assignment rows that agents long-poll.

Node indices of the ``Start`` name nodes of the pool in the live state's order (ready, available
nodes sorted by id); each node gets the lowest GPU indices not held by an active assignment. All GPUs
are picked before anything is written, so a start that cannot be honoured leaves no trace.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

from hexagrid.backends.base import Backend
from hexagrid.domain import Start
from hexagrid.server.models import Assignment, Job, Node
from hexagrid.server.services import add_event

__all__ = ["AgentPullBackend"]

log = logging.getLogger("hexagrid.backends.agent_pull")


class AgentPullBackend(Backend):
    def start(
        self,
        session: Any,
        *,
        job: Job,
        start: Start,
        pool_nodes: Mapping[tuple[str, str], Sequence[Node]],
        used_gpus: MutableMapping[str, set[int]],
        now: float,
    ) -> list[str] | None:
        d = start
        nodes = pool_nodes.get((d.site_id, d.pool_id), [])
        indices = list(d.node_indices)
        if not indices:  # the state chose no nodes: take those with enough free GPUs, in order
            for i, n in enumerate(nodes):
                if n.gpus - len(used_gpus.get(n.id, ())) >= d.gpus_per_node:
                    indices.append(i)
                if len(indices) == d.nodes:
                    break
        if len(indices) != d.nodes or len(set(indices)) != len(indices) or any(i >= len(nodes) for i in indices):
            log.warning(
                "start of %s names nodes %s outside pool %s/%s (%d nodes)",
                job.id,
                indices,
                d.site_id,
                d.pool_id,
                len(nodes),
            )
            return None
        picks: list[tuple[Node, list[int]]] = []
        for i in indices:
            n = nodes[i]
            used = used_gpus.get(n.id, set())
            free = [g for g in range(n.gpus) if g not in used][: d.gpus_per_node]
            if len(free) < d.gpus_per_node:
                log.warning("start of %s: node %s has only %d free GPUs", job.id, n.id, len(free))
                return None
            picks.append((n, free))
        job.attempt += 1
        for rank, (n, free) in enumerate(picks):
            used_gpus.setdefault(n.id, set()).update(free)
            session.add(
                Assignment(
                    job_id=job.id,
                    attempt=job.attempt,
                    node_id=n.id,
                    rank=rank,
                    gpu_indices_json=json.dumps(free),
                    state="assigned",
                    created_s=now,
                    updated_s=now,
                )
            )
        job.state, job.site_id, job.pool_id, job.started_s = "scheduled", d.site_id, d.pool_id, now
        job.reason, job.deferred_until_s = None, None
        job.message = d.message or f"scheduled on {d.nodes} x {d.gpus_per_node} GPUs of {d.site_id}/{d.pool_id}"
        add_event(session, job, "scheduled", job.message, at_s=now)
        return [n.id for n, _ in picks]
