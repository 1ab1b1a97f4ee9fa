"""The queue in the form a pass needs: one derived row per job, plus numpy columns for ordering.

Deriving a row reads a dozen fields of a pydantic model; a driver that calls ``decide`` many times
keeps one :class:`Scheduler` (which caches rows by job id) or one :class:`JobQueue` it maintains, so a
job's row is built once, not once per pass.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from operator import itemgetter
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from hexagrid.domain.accelerators import CATALOG
from hexagrid.domain.jobs import JobSpec
from hexagrid.domain.kinds import JobKind, Objective, SovereigntyTier
from hexagrid.errors import InputError
from hexagrid.scheduling.state import KIND_INDEX

__all__ = ["JobQueue", "JobRow"]

# enum members are singletons: keying by id() avoids Enum.__hash__, a Python-level call, per job
_KIND_BY_ID: Final = {id(k): i for k, i in KIND_INDEX.items()}
_TIER_RANK_BY_ID: Final = {id(t): t.rank for t in SovereigntyTier}
_INFERENCE: Final = KIND_INDEX[JobKind.INFERENCE]
#: Score keys of jobs without users' positions, by objective (id) and kind: shared constants, so a pass over
#: 100,000 rows does not make (and the garbage collector does not then scan) 100,000 equal tuples.
#: Objectives as plain str values: they hash fast in memo keys.
_SCORE_KEYS_BY_OBJECTIVE_ID: Final = {id(o): [(k, o.value, None) for k in range(len(KIND_INDEX))] for o in Objective}


#: A spec's fields as ``derive`` reads them, from the models' ``__dict__`` in one C call each: a pydantic
#: model's attribute reads go through its ``__getattr__`` hook (~0.1 us each, ~25 of them per job).
_SPEC_FIELDS: Final = itemgetter(
    "id",
    "tenant",
    "project",
    "kind",
    "priority",
    "submit_s",
    "expected_duration_s",
    "walltime_s",
    "deadline_s",
    "preemptible",
    "checkpoint_interval_s",
    "objective",
    "inference",
    "resources",
)
_RESOURCE_FIELDS: Final = itemgetter("gpus", "num_nodes", "gpus_per_node")


def _signature(
    spec: dict[str, Any],
    resources: dict[str, Any],
    gpus: int,
    num_nodes: int,
    gpn_req: int,
    users: tuple[float, float, float] | None,
    inference: bool,
) -> tuple[object, ...]:
    """A job's static signature (see :class:`JobRow`) from its spec's and resources' ``__dict__``; flat, so
    hashing it walks one tuple."""
    res = spec["residency"].__dict__
    price = spec["max_price_eur_per_gpu_h"]
    return (
        resources["accelerators"],
        resources["min_gpu_memory_gb"],
        gpus,
        num_nodes,
        gpn_req,
        res["scope"],
        res["countries"],
        _TIER_RANK_BY_ID[id(spec["min_tier"])],
        math.inf if price is None else price,
        users,  # the users' position and latency target (None without)
        inference,  # runtimes scale by inference or training throughput
    )


class JobRow:
    """What the scheduler derives once from a JobSpec.

    ``skey`` is the job's static signature: every hard rule that depends only on the job and the
    fleet's structure (accelerator, shape, residency, tier, price, latency) is a function of it, so the
    pools it admits are computed once per signature and shared by all jobs that have it.

    A plain class with its own ``__init__`` (not a dataclass): compiled by mypyc, a dataclass keeps the
    interpreted ``__init__`` that ``dataclasses`` generates, and a 100,000-job pass builds 100,000 rows.
    """

    __slots__ = (
        "checkpoint_interval_s",
        "deadline_s",
        "duration_s",
        "gpn_req",
        "gpus",
        "id",
        "inference",
        "kind",
        "memo",
        "num_nodes",
        "objective",
        "preemptible",
        "priority",
        "project",
        "score_key",
        "spec",
        "submit_s",
        "tenant",
        "walltime_s",
    )

    def __init__(
        self,
        spec: JobSpec,
        id: str,
        tenant: str,
        project: str | None,
        kind: int,
        inference: bool,
        gpus: int,
        num_nodes: int,
        gpn_req: int,
        priority: int,
        submit_s: float,
        duration_s: float,
        walltime_s: float,
        deadline_s: float | None,
        preemptible: bool,
        checkpoint_interval_s: float | None,
        objective: Objective,
        score_key: tuple[object, ...],
    ) -> None:
        self.spec = spec
        self.id = id
        self.tenant = tenant
        self.project = project
        self.kind = kind  # index into state.KINDS
        self.inference = inference
        self.gpus = gpus
        self.num_nodes = num_nodes
        self.gpn_req = gpn_req  # per-node GPUs the job asked for, 0 when the scheduler may choose the shape
        self.priority = priority
        self.submit_s = submit_s
        self.duration_s = duration_s
        self.walltime_s = walltime_s
        self.deadline_s = deadline_s
        self.preemptible = preemptible
        self.checkpoint_interval_s = checkpoint_interval_s
        self.objective = objective
        self.score_key = score_key
        self.memo: tuple[int, int, object] | None = None  # the scheduler's per-pass cache of this row's entry

    def __repr__(self) -> str:
        return f"JobRow({self.id!r}, tenant={self.tenant!r}, gpus={self.gpus}, kind={self.kind})"

    @staticmethod
    def from_spec(job: JobSpec) -> JobRow:
        return JobRow.derive(job)[0]

    @staticmethod
    def derive(job: JobSpec) -> tuple[JobRow, tuple[object, ...]]:
        """The row and its signature (:attr:`skey`), built from the same reads of the spec: a bulk build
        codes the signature at once and keeps no reference to it on the row."""
        d = job.__dict__
        (jid, tenant, project, kind_e, priority, submit, dur, wall, deadline, preemptible, ckpt, objective, inf, r) = (
            _SPEC_FIELDS(d)
        )
        rd = r.__dict__
        gpus, num_nodes, gpn = _RESOURCE_FIELDS(rd)
        kind = _KIND_BY_ID[id(kind_e)]
        gpn_req = gpn or (gpus // num_nodes if num_nodes > 1 else 0)
        score_key: tuple[object, ...]
        users: tuple[float, float, float] | None = None
        if inf is None:
            score_key = _SCORE_KEYS_BY_OBJECTIVE_ID[id(objective)][kind]
        else:  # with the users' position and latency target
            users = (inf.users_latitude, inf.users_longitude, inf.latency_target_ms)
            score_key = (kind, objective.value, users)
        inference = kind == _INFERENCE
        # positional: keyword arguments cost a measurable share of a 100,000-job pass
        row = JobRow(
            job,
            jid,
            tenant,
            project,
            kind,
            inference,
            gpus,
            num_nodes,
            gpn_req,
            priority,
            submit,
            dur,
            dur if wall is None else wall,
            deadline,
            preemptible,
            ckpt,
            objective,
            score_key,
        )
        return row, _signature(d, rd, gpus, num_nodes, gpn_req, users, inference)

    @property
    def skey(self) -> tuple[object, ...]:
        """The static signature, built on each read: a pass reads it about once per row (to group rows),
        and a tuple kept on each of 100,000 rows is 100,000 more objects for the garbage collector to scan."""
        d = self.spec.__dict__
        users: Any = self.score_key[2]
        return _signature(d, d["resources"].__dict__, self.gpus, self.num_nodes, self.gpn_req, users, self.inference)

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


class _Columns:
    """The queue's numpy columns, from index 0 to the queue's length, with room to grow (capacity ``len(submit)``)."""

    __slots__ = ("account", "gpus", "ids", "preemptible", "priority", "skey", "submit", "tenant", "wall", "work")

    def __init__(self, q: JobQueue) -> None:
        rows, n = q.rows, len(q.rows)
        cap = max(64, 2 * n)
        self.submit = np.zeros(cap)
        self.priority = np.zeros(cap)
        self.gpus = np.zeros(cap, dtype=np.int64)
        self.preemptible = np.zeros(cap, dtype=np.bool_)
        self.tenant = np.zeros(cap, dtype=np.int64)
        self.skey = np.zeros(cap, dtype=np.int64)
        self.account = np.zeros(cap, dtype=np.int64)
        self.work = np.zeros(cap)
        self.wall = np.zeros(cap)
        self.ids: npt.NDArray[np.str_] | None = None  # built on first use: only ties in queue order need them
        if n:
            self.submit[:n] = np.fromiter((r.submit_s for r in rows), dtype=np.float64, count=n)
            self.priority[:n] = np.fromiter((r.priority for r in rows), dtype=np.float64, count=n)
            self.gpus[:n] = np.fromiter((r.gpus for r in rows), dtype=np.int64, count=n)
            self.preemptible[:n] = np.fromiter((r.preemptible for r in rows), dtype=np.bool_, count=n)
            self.tenant[:n] = q.tenant_code_l
            self.skey[:n] = q.skey_code_l
            self.account[:n] = q.account_code_l
            self.work[:n] = np.fromiter((r.gpus * r.duration_s for r in rows), dtype=np.float64, count=n)
            self.wall[:n] = np.fromiter((r.walltime_s for r in rows), dtype=np.float64, count=n)

    def _arrays(self) -> list[np.ndarray]:
        return [
            self.submit,
            self.priority,
            self.gpus,
            self.preemptible,
            self.tenant,
            self.skey,
            self.account,
            self.work,
            self.wall,
        ]

    def put(self, i: int, row: JobRow, t: int, k: int, a: int) -> None:
        """Write row ``i`` (growing the columns when full)."""
        if i >= len(self.submit):
            self._grow(i + 1)
        ids = self.ids
        if ids is not None and len(row.id) > ids.dtype.itemsize // 4:
            ids = self.ids = ids.astype(f"U{max(len(row.id), 2 * (ids.dtype.itemsize // 4))}")
        self.submit[i] = row.submit_s
        self.priority[i] = row.priority
        self.gpus[i] = row.gpus
        self.preemptible[i] = row.preemptible
        self.tenant[i] = t
        self.skey[i] = k
        self.account[i] = a
        self.work[i] = row.gpus * row.duration_s
        self.wall[i] = row.walltime_s
        if ids is not None:
            ids[i] = row.id

    def move(self, src: int, dst: int) -> None:
        """Copy row ``src`` into row ``dst`` (a removal's last row moving into the hole)."""
        for col in self._arrays():
            col[dst] = col[src]
        if self.ids is not None:
            self.ids[dst] = self.ids[src]

    def _grow(self, need: int) -> None:
        cap = max(64, 2 * need)
        n = len(self.submit)
        for name in ("submit", "priority", "gpus", "preemptible", "tenant", "skey", "account", "work", "wall", "ids"):
            old = getattr(self, name)
            if old is None:
                continue
            new = np.zeros(cap, dtype=old.dtype)
            new[:n] = old
            setattr(self, name, new)


class JobQueue:
    """The waiting jobs as rows, their tenant, signature and account codes as lists, and the numpy columns a
    long queue's pass orders and filters them by.

    A driver that calls ``decide`` pass after pass keeps one and updates it (:meth:`add`, :meth:`remove`,
    O(1) each: removal moves the last row into the hole), so no pass rebuilds rows, codes or columns; storage
    order is not queue order (``order_queue`` sorts). The numpy columns are built when first read (a short
    queue's pass reads the rows and code lists alone, so a driver's short queue never pays for them) and kept
    in step from then on; they are views of the first ``len`` entries. ``tenant_code``, ``skey_code`` and
    ``account_code`` number tenants, signatures and (tenant, project) accounts in first-seen order, so a pass
    can work per tenant, signature and account in vector form.
    """

    __slots__ = (
        "_cols",
        "_pos",
        "account_code_l",
        "account_codes",
        "accounts",
        "rows",
        "skey_code_l",
        "skey_codes",
        "skey_rows",
        "tenant_code_l",
        "tenant_codes",
        "tenant_names",
    )

    def __init__(self, rows: Iterable[JobRow] = ()) -> None:
        self.rows: list[JobRow] = []
        self._pos: dict[str, int] = {}
        self.tenant_codes: dict[str, int] = {}
        self.tenant_names: list[str] = []
        self.skey_codes: dict[tuple[object, ...], int] = {}
        self.skey_rows: list[JobRow] = []  # one row per signature code, to build what depends on it alone
        self.account_codes: dict[tuple[str, str | None], int] = {}
        self.accounts: list[tuple[str, str | None]] = []
        # each row's codes, in row order (the lists a short queue's pass reads)
        self.tenant_code_l: list[int] = []
        self.skey_code_l: list[int] = []
        self.account_code_l: list[int] = []
        self._cols: _Columns | None = None
        rows = list(rows)
        if rows:
            self._bulk(rows)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_specs(cls, specs: Iterable[JobSpec], cache: dict[str, JobRow] | None = None) -> JobQueue:
        """Rows for ``specs``; ``cache`` (job id -> row) is reused when the spec object is the same."""
        derive = JobRow.derive
        if not cache:  # nothing to reuse (a fresh scheduler's cache): no lookups, the cache filled at once
            built = [derive(spec) for spec in specs]
            rows = [row for row, _ in built]
            skeys = [skey for _, skey in built]
        else:
            rows, skeys = [], []
            for spec in specs:
                row = cache.get(spec.id)
                if row is None or row.spec is not spec:
                    row, skey = derive(spec)
                    cache[spec.id] = row
                else:
                    skey = row.skey
                rows.append(row)
                skeys.append(skey)
        q = cls()
        if rows:
            q._bulk(rows, skeys)
            if cache is not None:
                cache.update(zip(q._pos, rows, strict=True))  # _pos: the ids in row order
        return q

    def _codes(self, row: JobRow, skey: tuple[object, ...]) -> tuple[int, int, int]:
        t = self.tenant_codes.get(row.tenant)
        if t is None:
            t = self.tenant_codes[row.tenant] = len(self.tenant_names)
            self.tenant_names.append(row.tenant)
        k = self.skey_codes.get(skey)
        if k is None:
            k = self.skey_codes[skey] = len(self.skey_rows)
            self.skey_rows.append(row)
        acct = (row.tenant, row.project)
        a = self.account_codes.get(acct)
        if a is None:
            a = self.account_codes[acct] = len(self.accounts)
            self.accounts.append(acct)
        return t, k, a

    def _bulk(self, rows: list[JobRow], skeys: list[tuple[object, ...]] | None = None) -> None:
        n = len(rows)
        self._pos = dict(zip([r.id for r in rows], range(n), strict=True))
        if len(self._pos) != n:
            seen: set[str] = set()
            dup = next(r.id for r in rows if r.id in seen or seen.add(r.id))  # type: ignore[func-returns-value]
            raise InputError(f"queue: job id {dup!r} appears more than once; each queued job needs a unique id")
        # codes in first-seen order, one comprehension each (setdefault hands out the next code on a miss)
        tenants: dict[str, int] = {}
        codes: dict[tuple[object, ...], int] = {}
        accounts: dict[tuple[str, str | None], int] = {}
        self.tenant_code_l = [tenants.setdefault(r.tenant, len(tenants)) for r in rows]
        self.skey_code_l = [
            codes.setdefault(k, len(codes)) for k in ([r.skey for r in rows] if skeys is None else skeys)
        ]
        self.account_code_l = [accounts.setdefault((r.tenant, r.project), len(accounts)) for r in rows]
        self.tenant_codes, self.tenant_names = tenants, list(tenants)
        self.skey_codes, self.account_codes, self.accounts = codes, accounts, list(accounts)
        # a signature's first row is where its code exceeds every code before it (codes rise as first seen)
        first_rows: list[JobRow] = []
        for r, k in zip(rows, self.skey_code_l):
            if k == len(first_rows):
                first_rows.append(r)
        self.skey_rows = first_rows
        self.rows = rows
        self._cols = None

    def add(self, job: JobSpec | JobRow) -> JobRow:
        """Append a job (a spec, or a row already derived from one); a job id already queued is an error."""
        # a spec's signature comes with its row (from the same reads); a row's is built again
        row, skey = (job, job.skey) if isinstance(job, JobRow) else JobRow.derive(job)
        if row.id in self._pos:
            raise InputError(f"queue: job id {row.id!r} is already queued; each queued job needs a unique id")
        i = len(self.rows)
        t, k, a = self._codes(row, skey)
        self.tenant_code_l.append(t)
        self.skey_code_l.append(k)
        self.account_code_l.append(a)
        if self._cols is not None:
            self._cols.put(i, row, t, k, a)
        self._pos[row.id] = i
        self.rows.append(row)
        return row

    def remove(self, job_id: str) -> JobRow | None:
        """Take a job out (None if it is not queued); the last row moves into its place."""
        i = self._pos.pop(job_id, None)
        if i is None:
            return None
        rows = self.rows
        row = rows[i]
        last = len(rows) - 1
        tl, sl, al = self.tenant_code_l, self.skey_code_l, self.account_code_l
        if i != last:
            moved = rows[last]
            rows[i] = moved
            self._pos[moved.id] = i
            tl[i], sl[i], al[i] = tl[last], sl[last], al[last]
            if self._cols is not None:
                self._cols.move(last, i)
        rows.pop()
        tl.pop()
        sl.pop()
        al.pop()
        return row

    def get(self, job_id: str) -> JobRow | None:
        i = self._pos.get(job_id)
        return None if i is None else self.rows[i]

    # ------------------------------------------------------------------ columns (views)
    def _columns(self) -> _Columns:
        cols = self._cols
        if cols is None:
            cols = self._cols = _Columns(self)
        return cols

    @property
    def submit_s(self) -> npt.NDArray[np.float64]:
        return self._columns().submit[: len(self.rows)]

    @property
    def priority(self) -> npt.NDArray[np.float64]:
        return self._columns().priority[: len(self.rows)]

    @property
    def gpus(self) -> npt.NDArray[np.int64]:
        return self._columns().gpus[: len(self.rows)]

    @property
    def preemptible(self) -> npt.NDArray[np.bool_]:
        return self._columns().preemptible[: len(self.rows)]

    @property
    def tenant_code(self) -> npt.NDArray[np.int64]:
        return self._columns().tenant[: len(self.rows)]

    @property
    def skey_code(self) -> npt.NDArray[np.int64]:
        return self._columns().skey[: len(self.rows)]

    @property
    def account_code(self) -> npt.NDArray[np.int64]:
        return self._columns().account[: len(self.rows)]

    @property
    def work_gpu_s(self) -> npt.NDArray[np.float64]:
        """GPUs x expected duration on the reference accelerator (what allocations are charged on)."""
        return self._columns().work[: len(self.rows)]

    @property
    def walltime_s(self) -> npt.NDArray[np.float64]:
        """Walltime limits on the reference accelerator."""
        return self._columns().wall[: len(self.rows)]

    @property
    def ids(self) -> npt.NDArray[np.str_]:
        """Job ids as a numpy string column, built on first use and kept in step by add/remove after that."""
        cols = self._columns()
        if cols.ids is None:
            ids = np.array([r.id for r in self.rows], dtype=np.str_)
            cols.ids = np.zeros(len(cols.submit), dtype=ids.dtype if len(ids) else "U1")
            cols.ids[: len(ids)] = ids
        return cols.ids[: len(self.rows)]

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[JobSpec]:
        """The queued jobs' specs, in storage order."""
        return (r.spec for r in self.rows)
