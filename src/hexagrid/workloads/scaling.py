"""Trace scaling: load a fleet bigger than the cluster a trace came from.

Two knobs, both keeping each job's own shape (GPUs, duration, mapped attributes):
- ``time_compression = k`` divides every submit offset by k: the same jobs arrive k times faster,
  so the offered load (GPU-hours per hour) grows k-fold.
- ``replicate = n`` stacks n copies of the trace; copy 0 is the original, copies 1..n-1 have their
  submits jittered uniformly by up to ``jitter_s`` either way (seeded) and ids ``<id>-rN``; GPU-hours
  grow n-fold, and the arrival rhythm (diurnal, weekly) is kept.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from hexagrid.errors import InputError
from hexagrid.workloads.table import _MAPPED_COLUMNS, _TRACE_COLUMNS, JobTable

__all__ = ["scale_trace"]


def scale_trace(
    table: JobTable,
    time_compression: float = 1.0,
    replicate: int = 1,
    seed: int = 0,
    jitter_s: float = 1800.0,
) -> JobTable:
    """The trace compressed in time by ``time_compression`` and stacked ``replicate`` times (see module doc).

    ``jitter_s`` is in compressed time. Submits stay >= 0; a deadline moves with its job's submit.
    Same arguments and seed: byte-identical table. GPU-hours of the result = ``replicate`` x the input's.
    """
    if not (np.isfinite(time_compression) and 0 < time_compression <= 1e6):
        raise InputError(f"time_compression: must be > 0 and at most 1e6, got {time_compression}")
    if not 1 <= replicate <= 10_000:
        raise InputError(f"replicate: must be within 1..10,000, got {replicate}")
    if not (np.isfinite(jitter_s) and jitter_s >= 0):
        raise InputError(f"jitter_s: must be >= 0 seconds, got {jitter_s}")
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    n = len(table)
    base_submit = table.submit_s / time_compression
    submits = [base_submit]
    for _ in range(1, replicate):
        submits.append(np.maximum(base_submit + rng.uniform(-jitter_s, jitter_s, size=n), 0.0))
    submit = np.concatenate(submits)
    shift = submit - np.tile(table.submit_s, replicate)  # how far each copy's submit moved

    changes: dict[str, object] = {}
    for name in (*_TRACE_COLUMNS, *_MAPPED_COLUMNS):
        arr = getattr(table, name)
        if arr is not None and name not in ("job_id", "submit_s"):
            changes[name] = np.tile(arr, replicate)
    ids = [table.job_id]
    for r in range(1, replicate):
        ids.append(np.array([f"{i}-r{r}" for i in table.job_id.tolist()], dtype=object))
    changes["job_id"] = np.concatenate(ids) if ids else table.job_id
    changes["submit_s"] = submit
    if table.deadline_s is not None:
        changes["deadline_s"] = np.tile(table.deadline_s, replicate) + shift
    note = f"scaled: time compression x{time_compression:g}, {replicate} copies (jitter +/-{jitter_s:g} s, seed {seed})"
    scaled = replace(table, notes=(*table.notes, note), **changes)  # type: ignore[arg-type]
    order = np.argsort(scaled.submit_s, kind="stable")
    return scaled.take(order)
