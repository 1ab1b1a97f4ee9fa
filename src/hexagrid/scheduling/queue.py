"""The queue in the form a pass needs: one derived row per job, plus numpy columns for ordering.

Deriving a row reads a dozen fields of a pydantic model; a driver that calls ``decide`` many times
keeps one :class:`Scheduler` (which caches rows by job id) or one :class:`JobQueue` it maintains, so a
job's row is built once, not once per pass.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hexagrid.domain.accelerators import CATALOG
from hexagrid.domain.jobs import JobSpec
from hexagrid.domain.kinds import JobKind, Objective, SovereigntyTier
from hexagrid.scheduling.state import KIND_INDEX

__all__ = ["JobQueue", "JobRow"]

# enum members are singletons: keying by id() avoids Enum.__hash__, a Python-level call, per job
_KIND_BY_ID = {id(k): i for k, i in KIND_INDEX.items()}
_TIER_RANK_BY_ID = {id(t): t.rank for t in SovereigntyTier}
_OBJECTIVE_BY_ID = {id(o): o.value for o in Objective}  # plain str values hash fast in memo keys
_INFERENCE = KIND_INDEX[JobKind.INFERENCE]


@dataclass(slots=True)
class JobRow:
    """What the scheduler derives once from a JobSpec.

    ``skey`` is the job's static signature: every hard rule that depends only on the job and the
    fleet's structure (accelerator, shape, residency, tier, price, latency) is a function of it, so the
    pools it admits are computed once per signature and shared by all jobs that have it.
    """

    spec: JobSpec
    id: str
    tenant: str
    project: str | None
    kind: int  # index into state.KINDS
    inference: bool
    gpus: int
    num_nodes: int
    gpn_req: int  # per-node GPUs the job asked for, 0 when the scheduler may choose the shape
    priority: int
    submit_s: float
    duration_s: float
    walltime_s: float
    deadline_s: float | None
    preemptible: bool
    checkpoint_interval_s: float | None
    objective: Objective
    skey: tuple[object, ...]
    score_key: tuple[object, ...]
    memo: tuple[int, int, object] | None = None  # the scheduler's per-pass cache of this row's entry

    @classmethod
    def from_spec(cls, job: JobSpec) -> JobRow:
        r = job.resources
        kind = _KIND_BY_ID[id(job.kind)]
        gpn_req = r.gpus_per_node or (r.gpus // r.num_nodes if r.num_nodes > 1 else 0)
        inf = job.inference
        lat_key = None if inf is None else (inf.users_latitude, inf.users_longitude, inf.latency_target_ms)
        max_price = math.inf if job.max_price_eur_per_gpu_h is None else job.max_price_eur_per_gpu_h
        skey = (
            r.accelerators,
            r.min_gpu_memory_gb,
            r.gpus,
            r.num_nodes,
            gpn_req,
            (job.residency.scope, job.residency.countries),
            _TIER_RANK_BY_ID[id(job.min_tier)],
            max_price,
            lat_key,
            kind == _INFERENCE,  # runtimes scale by inference or training throughput
        )
        wall = job.walltime_s
        dur = job.expected_duration_s
        # positional: keyword arguments cost a measurable share of a 100,000-job pass
        return cls(
            job,
            job.id,
            job.tenant,
            job.project,
            kind,
            kind == _INFERENCE,
            r.gpus,
            r.num_nodes,
            gpn_req,
            job.priority,
            job.submit_s,
            dur,
            dur if wall is None else wall,
            job.deadline_s,
            job.preemptible,
            job.checkpoint_interval_s,
            job.objective,
            skey,
            (kind, _OBJECTIVE_BY_ID[id(job.objective)], lat_key),
        )

    @property
    def acc_desc(self) -> str:
        """The accepted accelerators in words, for messages."""
        r = self.spec.resources
        if r.accelerators and r.min_gpu_memory_gb > 0:
            accepted = [a for a in r.accelerators if CATALOG[a].memory_gb >= r.min_gpu_memory_gb]
            return "/".join(accepted) if accepted else f"{'/'.join(r.accelerators)} with >= {r.min_gpu_memory_gb:g} GB"
        if r.accelerators:
            return "/".join(r.accelerators)
        if r.min_gpu_memory_gb > 0:
            return f"GPUs with >= {r.min_gpu_memory_gb:g} GB"
        return "GPUs"

    @property
    def where_desc(self) -> str:
        """``'FR '`` for residency FR, empty for ANY: 'no FR site with ...'."""
        scope = str(self.spec.residency)
        return "" if scope == "ANY" else f"{scope} "

    def shape_desc(self) -> str:
        if self.num_nodes > 1:
            return f" ({self.num_nodes} nodes x {self.gpn_req})"
        return ""


class JobQueue:
    """Rows plus the numpy columns ordering needs (submit time, priority, ids)."""

    __slots__ = ("ids", "priority", "rows", "submit_s")

    def __init__(self, rows: Sequence[JobRow]) -> None:
        self.rows = list(rows)
        n = len(self.rows)
        self.submit_s = np.fromiter((r.submit_s for r in self.rows), dtype=np.float64, count=n)
        self.priority = np.fromiter((r.priority for r in self.rows), dtype=np.float64, count=n)
        self.ids: npt.NDArray[np.str_] = np.array([r.id for r in self.rows], dtype=np.str_) if n else np.zeros(0, "U1")

    @classmethod
    def from_specs(cls, specs: Iterable[JobSpec], cache: dict[str, JobRow] | None = None) -> JobQueue:
        """Rows for ``specs``; ``cache`` (job id -> row) is reused when the spec object is the same."""
        rows: list[JobRow] = []
        for spec in specs:
            row = None if cache is None else cache.get(spec.id)
            if row is None or row.spec is not spec:
                row = JobRow.from_spec(spec)
                if cache is not None:
                    cache[spec.id] = row
            rows.append(row)
        return cls(rows)

    def __len__(self) -> int:
        return len(self.rows)
