"""JobTable: a workload as columns (numpy arrays), not as a million Python objects.

Loaders fill the trace columns (ids, submit offsets, durations on the trace's reference accelerator,
GPUs); :class:`~hexagrid.workloads.mapping.MappingRule` fills the attributes traces lack (tenant,
kind, residency, ...). Categorical columns are small integer codes into a tuple of labels kept on the
table, so a million jobs cost a few arrays. :meth:`JobTable.iter_jobspecs` turns rows into
:class:`hexagrid.domain.JobSpec` objects only where a driver needs them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
from pydantic import BaseModel

from hexagrid.domain import CATALOG, REFERENCE_ACCELERATOR, JobKind, JobSpec, Objective, Residency, Resources
from hexagrid.domain.kinds import SovereigntyTier, TenantClass
from hexagrid.errors import InputError
from hexagrid.gcpause import gc_paused

__all__ = [
    "KINDS",
    "OBJECTIVES",
    "TENANT_CLASSES",
    "TIERS",
    "JobTable",
    "gang_shape",
]

#: Code order of the categorical columns (``kind`` code 0 is training, and so on).
KINDS: tuple[JobKind, ...] = tuple(JobKind)
OBJECTIVES: tuple[Objective, ...] = tuple(Objective)
TIERS: tuple[SovereigntyTier, ...] = tuple(SovereigntyTier)
TENANT_CLASSES: tuple[TenantClass, ...] = tuple(TenantClass)

#: GPUs per whole node that a multi-node trace job is cut into.
GPUS_PER_NODE = 8

# Array columns that every table has (one value per job) and those that mapping adds.
_TRACE_COLUMNS = ("job_id", "submit_s", "duration_s", "gpus", "cluster", "kind")
_MAPPED_COLUMNS = (
    "walltime_s",
    "tenant",
    "project",
    "residency",
    "min_tier",
    "deadline_s",
    "preemptible",
    "checkpoint_interval_s",
    "priority",
    "objective",
    "accel_set",
)


def gang_shape(gpus: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(num_nodes, gpus_per_node)`` per job; ``gpus_per_node`` 0 means a single-node partial job.

    The rule: up to 8 GPUs is one node, any share of it. More than 8 GPUs takes whole nodes of 8
    (``num_nodes = gpus / 8``); the rare counts that 8 does not divide (Philly's 12- and 24-GPU jobs:
    24 is 3 x 8, 12 is not) take the largest divisor of ``gpus`` that is at most 8 as GPUs per node
    (12 -> 2 nodes x 6), so the GPU count, and so GPU-hours, stay exact.
    """
    g = np.asarray(gpus, dtype=np.int64)
    per_node = np.zeros_like(g)
    multi = g > GPUS_PER_NODE
    if multi.any():
        gm = g[multi]
        best = np.ones_like(gm)
        for d in range(GPUS_PER_NODE, 0, -1):
            hit = (best == 1) & (gm % d == 0)
            best[hit] = d
        per_node[multi] = best
    nodes = np.where(multi, g // np.maximum(per_node, 1), 1)
    return nodes, per_node


@dataclass(frozen=True, eq=False)
class JobTable:
    """A workload as columns, sorted by submit time. All arrays have one entry per job.

    Trace columns:
        job_id: str ids (numpy object array), unique within the table.
        submit_s: submission, seconds from the workload's time 0 (float64, ascending).
        duration_s: run time on ``reference_accelerator`` (float64, > 0), as the trace measured it.
        gpus: GPUs per job (int64, >= 1).
        cluster: code into ``clusters`` (int32): the trace's cluster or virtual cluster; -1 if none.
        kind: code into :data:`KINDS` (int8), or -1 where not yet known (traces do not say).

    Mapped columns (``None`` until :meth:`MappingRule.apply <hexagrid.workloads.mapping.MappingRule.apply>`):
        walltime_s (float64, on the hexagrid reference accelerator; NaN = the expected duration),
        tenant (code into ``tenants``), project (code into ``projects``, -1 = none), residency (code
        into ``residencies``), min_tier (code into :data:`TIERS`), deadline_s (seconds from time 0,
        NaN = none), preemptible (bool), checkpoint_interval_s (NaN = none), priority (int16),
        objective (code into :data:`OBJECTIVES`), accel_set (code into ``accel_sets``; ``()`` = any).
    """

    name: str
    job_id: np.ndarray
    submit_s: np.ndarray
    duration_s: np.ndarray
    gpus: np.ndarray
    cluster: np.ndarray
    kind: np.ndarray
    clusters: tuple[str, ...] = ()
    reference_accelerator: str = "V100"
    origin_s: float | None = None
    notes: tuple[str, ...] = ()
    # mapped columns and their labels
    walltime_s: np.ndarray | None = None
    tenant: np.ndarray | None = None
    project: np.ndarray | None = None
    residency: np.ndarray | None = None
    min_tier: np.ndarray | None = None
    deadline_s: np.ndarray | None = None
    preemptible: np.ndarray | None = None
    checkpoint_interval_s: np.ndarray | None = None
    priority: np.ndarray | None = None
    objective: np.ndarray | None = None
    accel_set: np.ndarray | None = None
    tenants: tuple[str, ...] = ()
    tenant_classes: tuple[TenantClass, ...] = ()
    projects: tuple[str, ...] = ()
    residencies: tuple[Residency, ...] = ()
    accel_sets: tuple[tuple[str, ...], ...] = ()
    mapping: dict[str, Any] = field(default_factory=dict)

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def from_arrays(
        cls,
        name: str,
        *,
        job_id: np.ndarray | list[str],
        submit_s: np.ndarray,
        duration_s: np.ndarray,
        gpus: np.ndarray,
        cluster: np.ndarray | None = None,
        clusters: tuple[str, ...] = (),
        kind: np.ndarray | None = None,
        reference_accelerator: str = "V100",
        origin_s: float | None = None,
        notes: tuple[str, ...] = (),
    ) -> JobTable:
        """Build a table from trace columns, checking them and sorting by submit time (stable)."""
        if reference_accelerator not in CATALOG:
            raise InputError(
                f"reference_accelerator: {reference_accelerator!r} is not in the catalog; known: {', '.join(CATALOG)}"
            )
        ids = np.asarray(job_id, dtype=object)
        sub = np.asarray(submit_s, dtype=np.float64)
        dur = np.asarray(duration_s, dtype=np.float64)
        g = np.asarray(gpus, dtype=np.int64)
        n = len(ids)
        cl = np.full(n, -1, dtype=np.int32) if cluster is None else np.asarray(cluster, dtype=np.int32)
        kd = np.full(n, -1, dtype=np.int8) if kind is None else np.asarray(kind, dtype=np.int8)
        for col, arr in (("submit_s", sub), ("duration_s", dur), ("gpus", g), ("cluster", cl), ("kind", kd)):
            if len(arr) != n:
                raise InputError(f"{name}: column {col} has {len(arr)} values, job_id has {n}")
        if n:
            if not np.isfinite(sub).all():
                raise InputError(f"{name}: submit_s must be finite, got {sub[~np.isfinite(sub)][0]}")
            bad = ~(np.isfinite(dur) & (dur > 0))
            if bad.any():
                raise InputError(f"{name}: duration_s must be > 0, got {dur[bad][0]} for job {ids[bad][0]}")
            if (g < 1).any():
                raise InputError(f"{name}: gpus must be >= 1, got {g[g < 1][0]} for job {ids[g < 1][0]}")
        order = np.argsort(sub, kind="stable")
        if n and not (order == np.arange(n)).all():
            ids, sub, dur, g, cl, kd = ids[order], sub[order], dur[order], g[order], cl[order], kd[order]
        return cls(
            name=name,
            job_id=ids,
            submit_s=sub,
            duration_s=dur,
            gpus=g,
            cluster=cl,
            kind=kd,
            clusters=tuple(clusters),
            reference_accelerator=reference_accelerator,
            origin_s=origin_s,
            notes=tuple(notes),
        )

    @classmethod
    def concat(cls, tables: Sequence[JobTable], name: str | None = None) -> JobTable:
        """Several unmapped workloads as one, on one clock (each keeps its submit offsets), sorted.

        Durations stay as traced when every table has the same reference accelerator; otherwise all
        are converted to the A100 reference. Cluster labels are prefixed with their table's name.
        Job ids must be distinct across the tables (``scale_trace`` or the loaders' prefixes keep them so).
        """
        if not tables:
            raise InputError("concat: needs at least one table")
        mapped = [t.name for t in tables if t.is_mapped]
        if mapped:
            raise InputError(f"concat: map after combining; already mapped: {', '.join(mapped)}")
        refs = {t.reference_accelerator for t in tables}
        ref = refs.pop() if len(refs) == 1 else REFERENCE_ACCELERATOR
        ids = np.concatenate([t.job_id for t in tables])
        if len(set(ids.tolist())) != len(ids):
            raise InputError("concat: job ids repeat across the tables; give each its own id prefix")
        clusters: list[str] = []
        cluster_parts = []
        for t in tables:
            cluster_parts.append(np.where(t.cluster >= 0, t.cluster + len(clusters), -1))
            clusters.extend(f"{t.name}/{c}" for c in t.clusters)
        factor = [1.0 if t.reference_accelerator == ref else t.duration_factor() for t in tables]
        return cls.from_arrays(
            name or "+".join(t.name for t in tables),
            job_id=ids,
            submit_s=np.concatenate([t.submit_s for t in tables]),
            duration_s=np.concatenate([t.duration_s * f for t, f in zip(tables, factor, strict=True)]),
            gpus=np.concatenate([t.gpus for t in tables]),
            cluster=np.concatenate(cluster_parts),
            clusters=tuple(clusters),
            kind=np.concatenate([t.kind for t in tables]),
            reference_accelerator=ref,
            notes=tuple(n for t in tables for n in t.notes),
        )

    # -- basic facts ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.job_id)

    @property
    def is_mapped(self) -> bool:
        return self.tenant is not None

    def gpu_hours(self) -> float:
        """GPU-hours as the trace measured them (on ``reference_accelerator``)."""
        return float(np.dot(self.gpus.astype(np.float64), self.duration_s) / 3600.0)

    def gpu_histogram(self) -> dict[int, int]:
        """Jobs per GPU count, ascending."""
        values, counts = np.unique(self.gpus, return_counts=True)
        return {int(v): int(c) for v, c in zip(values, counts, strict=True)}

    def offered_load(self, gpus: int) -> float:
        """Average busy share of ``gpus`` reference GPUs that this workload asks for over its span.

        GPU-hours on the reference accelerator / (gpus x span in hours): 1.0 fills the fleet if every
        job could start on submission. An estimate to size ``scale_trace`` or a synthetic horizon.
        """
        if gpus < 1:
            raise InputError(f"gpus: must be >= 1, got {gpus}")
        span_h = self.span_s() / 3600.0
        if span_h <= 0:
            return 0.0
        return self.gpu_hours() * self.duration_factor() / (gpus * span_h)

    def span_s(self) -> float:
        """Seconds from the first to the last submission."""
        return float(self.submit_s[-1] - self.submit_s[0]) if len(self) else 0.0

    def duration_factor(self) -> float:
        """Trace duration -> duration on hexagrid's reference accelerator (A100 = 1.0).

        ``expected = trace duration x ref.training_throughput / A100.training_throughput``: a job
        measured on a V100 (0.45 of an A100) takes 0.45 of the time on the reference accelerator.
        """
        return (
            CATALOG[self.reference_accelerator].training_throughput / CATALOG[REFERENCE_ACCELERATOR].training_throughput
        )

    @property
    def expected_duration_s(self) -> np.ndarray:
        """Durations on hexagrid's reference accelerator (what ``JobSpec.expected_duration_s`` holds)."""
        return self.duration_s * self.duration_factor()

    def sorted(self) -> JobTable:
        """The table sorted by submit time (stable); tables from this package already are."""
        order = np.argsort(self.submit_s, kind="stable")
        return self.take(order)

    def take(self, index: np.ndarray) -> JobTable:
        """The rows at ``index`` (an integer or boolean array), labels kept."""
        changes: dict[str, Any] = {}
        for name in (*_TRACE_COLUMNS, *_MAPPED_COLUMNS):
            arr = getattr(self, name)
            if arr is not None:
                changes[name] = arr[index]
        return replace(self, **changes)

    def head(self, n: int) -> JobTable:
        return self.take(np.arange(min(n, len(self))))

    def column_arrays(self) -> dict[str, np.ndarray]:
        """The array columns present, by name."""
        out = {}
        for name in (*_TRACE_COLUMNS, *_MAPPED_COLUMNS):
            arr = getattr(self, name)
            if arr is not None:
                out[name] = arr
        return out

    def digest(self) -> str:
        """sha256 over every column and label: equal digests mean byte-identical workloads."""
        h = hashlib.sha256()
        for name, arr in self.column_arrays().items():
            h.update(name.encode())
            if arr.dtype == object:
                h.update("\x1f".join(arr.tolist()).encode())
            else:
                h.update(str(arr.dtype).encode())
                h.update(np.ascontiguousarray(arr).tobytes())
        for f in fields(self):
            if f.name in _TRACE_COLUMNS or f.name in _MAPPED_COLUMNS:
                continue
            h.update(f.name.encode())
            h.update(repr(getattr(self, f.name)).encode())
        return h.hexdigest()

    def to_arrow(self) -> Any:
        """A ``pyarrow.Table`` with one row per job and labels in place of codes (for Parquet/CSV export).

        Columns: job_id, submit_s, duration_s, expected_duration_s, gpus, cluster, kind and, when
        mapped, tenant, tenant_class, project, residency, min_tier, deadline_s, preemptible,
        checkpoint_interval_s, priority, objective, accelerators, walltime_s (nulls where unset).
        """
        import pyarrow as pa

        def labels(codes: np.ndarray, names: Sequence[object]) -> pa.Array:
            lookup = _objects((*[str(x) for x in names], None))
            return pa.array(lookup[np.where(codes >= 0, codes, len(names))].tolist(), type=pa.string())

        def floats(values: np.ndarray) -> pa.Array:
            return pa.array(values, mask=np.isnan(values), type=pa.float64())

        cols: dict[str, pa.Array] = {
            "job_id": pa.array(self.job_id.tolist(), type=pa.string()),
            "submit_s": pa.array(self.submit_s),
            "duration_s": pa.array(self.duration_s),
            "expected_duration_s": pa.array(self.expected_duration_s),
            "gpus": pa.array(self.gpus),
            "cluster": labels(self.cluster, self.clusters),
            "kind": labels(self.kind, [k.value for k in KINDS]),
        }
        if self.is_mapped:
            m = self._mapped_columns()
            class_codes = np.array([TENANT_CLASSES.index(c) for c in self.tenant_classes], dtype=np.int8)
            cols["tenant"] = labels(m["tenant"], self.tenants)
            cols["tenant_class"] = labels(class_codes[m["tenant"]], [c.value for c in TENANT_CLASSES])
            cols["project"] = labels(m["project"], self.projects)
            cols["residency"] = labels(m["residency"], [str(r) for r in self.residencies])
            cols["min_tier"] = labels(m["min_tier"], [t.value for t in TIERS])
            cols["deadline_s"] = floats(m["deadline_s"])
            cols["preemptible"] = pa.array(m["preemptible"])
            cols["checkpoint_interval_s"] = floats(m["checkpoint_interval_s"])
            cols["priority"] = pa.array(m["priority"])
            cols["objective"] = labels(m["objective"], [o.value for o in OBJECTIVES])
            cols["accelerators"] = labels(m["accel_set"], [",".join(a) for a in self.accel_sets])
            cols["walltime_s"] = floats(m["walltime_s"])
        return pa.table(cols)

    # -- summaries ------------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """Counts a user checks a workload by: jobs, GPU-hours, histogram, span, and what was mapped."""
        out: dict[str, Any] = {
            "name": self.name,
            "jobs": len(self),
            "gpu_hours": round(self.gpu_hours(), 1),
            "reference_accelerator": self.reference_accelerator,
            "reference_gpu_hours": round(self.gpu_hours() * self.duration_factor(), 1),
            "gpu_histogram": self.gpu_histogram(),
            "span_s": self.span_s(),
            "clusters": len(self.clusters),
        }
        if len(self):
            out["median_duration_s"] = float(np.median(self.duration_s))
            if self.origin_s is not None:
                out["first_submit_utc"] = _utc(self.origin_s + float(self.submit_s[0]))
                out["last_submit_utc"] = _utc(self.origin_s + float(self.submit_s[-1]))
        if (self.kind >= 0).any():
            out["kind"] = _count(self.kind, [k.value for k in KINDS])
        if self.is_mapped:
            assert self.tenant is not None and self.residency is not None and self.min_tier is not None
            assert self.preemptible is not None and self.deadline_s is not None and self.objective is not None
            class_codes = np.array([TENANT_CLASSES.index(c) for c in self.tenant_classes], dtype=np.int8)
            out["tenant"] = _count(self.tenant, list(self.tenants))
            out["tenant_class"] = _count(class_codes[self.tenant], [c.value for c in TENANT_CLASSES])
            out["residency"] = _count(self.residency, [str(r) for r in self.residencies])
            out["min_tier"] = _count(self.min_tier, [t.value for t in TIERS])
            out["objective"] = _count(self.objective, [o.value for o in OBJECTIVES])
            out["preemptible"] = int(self.preemptible.sum())
            out["with_deadline"] = int(np.isfinite(self.deadline_s).sum())
            out["mapping"] = dict(self.mapping)
        if self.notes:
            out["notes"] = list(self.notes)
        return out

    def mapping_line(self) -> str:
        """One line saying what the mapping rule gave (for a driver's console and logs).

        E.g. ``mapped 69,351 jobs (seed 0): academic 30% commercial 70%; training 52% ...; FR 54% EU 41%
        ANY 5%; secnumcloud 14%; deadlines 20%; preemptible 45%``.
        """
        if not self.is_mapped:
            return f"{self.name}: {len(self):,} jobs, attributes not mapped"
        info = self.summary()
        n = max(1, len(self))

        def shares(counts: dict[str, int]) -> str:
            return " ".join(f"{k} {v / n:.0%}" for k, v in counts.items())

        tiers = {k: v for k, v in info["min_tier"].items() if k != "standard"}
        parts = [
            shares(info["tenant_class"]),
            shares(info["kind"]),
            shares(info["residency"]),
            shares(tiers) if tiers else "no sovereignty tier",
            f"deadlines {info['with_deadline'] / n:.0%}",
            f"preemptible {info['preemptible'] / n:.0%}",
        ]
        seed = self.mapping.get("seed", "?")
        return f"mapped {len(self):,} jobs of {self.name} (seed {seed}): " + "; ".join(parts)

    # -- to the domain --------------------------------------------------------------------------

    def iter_jobspecs(self, start_s: float, id_prefix: str = "") -> Iterator[JobSpec]:
        """One :class:`JobSpec` per row, in submit order; ``submit_s = start_s + offset``.

        Needs a mapped table (tenant, residency, ...). Values were validated column-wise when the
        table was built and mapped, so rows become JobSpecs without per-row validation (the
        equivalent of ``model_construct``, about 2 µs a job; categorical columns are decoded with one
        numpy take each and Resources objects are shared between jobs of the same shape).
        """
        if not self.is_mapped:
            raise InputError(
                f"workload {self.name}: map the attributes traces lack first "
                "(hexagrid.workloads.MappingRule().apply(table, tenants, seed))"
            )
        cols = self._mapped_columns()
        start_s = float(start_s)
        n = len(self)
        # every categorical column becomes its objects by one numpy take over an object array
        tenant = _objects(self.tenants)[cols["tenant"]].tolist()
        project_codes = cols["project"]
        project = _objects((*self.projects, None))[np.where(project_codes >= 0, project_codes, len(self.projects))]
        kind = _objects((*KINDS, JobKind.TRAINING))[np.where(self.kind >= 0, self.kind, len(KINDS))].tolist()
        residency = _objects(self.residencies)[cols["residency"]].tolist()
        tier = _objects(TIERS)[cols["min_tier"]].tolist()
        objective = _objects(OBJECTIVES)[cols["objective"]].tolist()
        # one Resources object per distinct (gpus, shape, accelerator set)
        nodes, per_node = gang_shape(self.gpus)
        key = (self.gpus * (GPUS_PER_NODE + 1) + per_node) * max(1, len(self.accel_sets)) + cols["accel_set"]
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        make_resources = _constructor(Resources)
        shapes = [
            make_resources(
                accelerators=self.accel_sets[int(cols["accel_set"][i])],
                min_gpu_memory_gb=0,
                gpus=int(self.gpus[i]),
                num_nodes=int(nodes[i]),
                gpus_per_node=int(per_node[i]) or None,
                cpus=0,
                memory_gb=0,
            )
            for i in first.tolist()
        ]
        resources = _objects(shapes)[inverse.reshape(-1)].tolist() if n else []
        ids = self.job_id.tolist() if not id_prefix else [id_prefix + i for i in self.job_id.tolist()]
        columns = zip(
            ids,
            tenant,
            project.tolist(),
            kind,
            resources,
            (self.submit_s + start_s).tolist(),
            self.expected_duration_s.tolist(),
            _nan_to_none(cols["walltime_s"]),
            residency,
            tier,
            _nan_to_none(cols["deadline_s"] + start_s),
            objective,
            cols["preemptible"].tolist(),
            _nan_to_none(cols["checkpoint_interval_s"]),
            cols["priority"].tolist(),
            strict=True,
        )
        make = _dict_constructor(JobSpec)  # one dict display a job: cheaper than a call with 18 keywords
        for jid, ten, prj, knd, res, sub, exp, wall, resid, tr, dl, obj, pre, ck, pri in columns:
            yield make(
                {
                    "id": jid,
                    "name": "",
                    "tenant": ten,
                    "project": prj,
                    "kind": knd,
                    "resources": res,
                    "submit_s": sub,
                    "expected_duration_s": exp,
                    "walltime_s": wall,
                    "residency": resid,
                    "min_tier": tr,
                    "deadline_s": dl,
                    "max_price_eur_per_gpu_h": None,
                    "objective": obj,
                    "preemptible": pre,
                    "checkpoint_interval_s": ck,
                    "priority": pri,
                    "inference": None,
                }
            )

    def to_jobspecs(self, start_s: float, id_prefix: str = "") -> list[JobSpec]:
        """:meth:`iter_jobspecs` as a list.

        The cyclic garbage collector is paused while the list is built: the objects hold no cycles, and
        collections triggered by tens of thousands of new containers would otherwise dominate.
        """
        with gc_paused():
            return list(self.iter_jobspecs(start_s, id_prefix))

    def _mapped_columns(self) -> dict[str, np.ndarray]:
        out = {}
        for name in _MAPPED_COLUMNS:
            arr = getattr(self, name)
            assert arr is not None, name
            out[name] = arr
        return out


def _constructor(cls: Any) -> Any:
    """A fast ``cls.model_construct`` for callers that pass every field, in declaration order, as keywords
    (see :func:`_dict_constructor`)."""
    make = _dict_constructor(cls)
    return lambda **values: make(values)


def _dict_constructor(cls: Any) -> Any:
    """A fast ``cls.model_construct`` taking every field in one dict, in declaration order.

    ``model_construct`` spends most of its ~8 us per object matching aliases and defaults; with all
    fields given, setting the instance dict and pydantic's bookkeeping slots directly does the same
    (tests compare the two). Models with post-init hooks or extra fields fall back to it.
    """
    if _needs_model_construct(cls):
        return lambda values: cls.model_construct(**values)
    new, set_dict, set_fields, set_extra, set_private = _setters(cls)
    # one fields-set shared by every object made here: the models are frozen, and pydantic copies the
    # set before changing it (model_copy), so sharing saves ~1 KB a job without changing behaviour
    all_fields = set(cls.__pydantic_fields__)

    def make(values: dict[str, Any]) -> Any:
        m = new(cls)
        set_dict(m, values)
        set_fields(m, all_fields)
        set_extra(m, None)
        set_private(m, None)
        return m

    return make


def _needs_model_construct(cls: Any) -> bool:
    """Whether ``cls`` has hooks or extra fields that only ``model_construct`` handles."""
    return bool(cls.__pydantic_post_init__ or cls.__pydantic_root_model__ or cls.model_config.get("extra") == "allow")


def _setters(cls: Any) -> tuple[Any, ...]:
    """``cls.__new__`` and the setters of a pydantic model's four slots (instance dict, fields set, extra,
    private), taken from BaseModel's slot descriptors: calling them skips ``object.__setattr__``'s lookup."""
    slots = BaseModel.__dict__
    return (
        cls.__new__,
        slots["__dict__"].__set__,
        slots["__pydantic_fields_set__"].__set__,
        slots["__pydantic_extra__"].__set__,
        slots["__pydantic_private__"].__set__,
    )


def _utc(posix_s: float) -> str:
    return datetime.fromtimestamp(posix_s, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _objects(items: Any) -> np.ndarray:
    """A 1-D object array of ``items`` (never a 2-D array, even for tuples of tuples)."""
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        out[i] = item
    return out


def _nan_to_none(values: np.ndarray) -> list[float | None]:
    """Floats as a list, NaN as None (how JobSpec says 'not set')."""
    out = values.astype(object)
    out[np.isnan(values)] = None
    return out.tolist()


def _count(codes: np.ndarray, labels: list[str]) -> dict[str, int]:
    """Counts per label of a code column (labels with no jobs left out; -1 counted as 'unknown')."""
    counts = np.bincount(codes[codes >= 0].astype(np.int64), minlength=len(labels))
    out = {labels[i]: int(c) for i, c in enumerate(counts) if c}
    missing = int((codes < 0).sum())
    if missing:
        out["unknown"] = missing
    return out
