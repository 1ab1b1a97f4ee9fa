"""Properties that hold for any input: gang shapes cover the GPUs, scaling multiplies GPU-hours exactly."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hexagrid.workloads import JobTable, gang_shape, scale_trace


@given(st.lists(st.integers(min_value=1, max_value=4096), min_size=1, max_size=50))
def test_gang_shape_covers_every_gpu(gpus: list[int]) -> None:
    g = np.array(gpus)
    nodes, per_node = gang_shape(g)
    single = g <= 8
    assert (nodes[single] == 1).all() and (per_node[single] == 0).all()
    multi = ~single
    assert (nodes[multi] * per_node[multi] == g[multi]).all()
    assert ((per_node[multi] >= 1) & (per_node[multi] <= 8)).all()
    # whole nodes of 8 whenever 8 divides the count
    assert (per_node[multi & (g % 8 == 0)] == 8).all()


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=1e7, allow_nan=False),
            st.floats(min_value=1, max_value=1e6, allow_nan=False),
            st.integers(min_value=1, max_value=1024),
        ),
        min_size=1,
        max_size=40,
    ),
    st.floats(min_value=0.01, max_value=1000, allow_nan=False),
    st.integers(min_value=1, max_value=6),
    st.integers(min_value=0, max_value=2**32 - 1),
)
def test_scaling_multiplies_gpu_hours(jobs: list[tuple[float, float, int]], k: float, n: int, seed: int) -> None:
    sub, dur, gpus = (np.array(c) for c in zip(*jobs, strict=True))
    table = JobTable.from_arrays(
        "t", job_id=[f"j{i}" for i in range(len(jobs))], submit_s=sub, duration_s=dur, gpus=gpus
    )
    scaled = scale_trace(table, time_compression=k, replicate=n, seed=seed)
    assert len(scaled) == n * len(table)
    assert np.isclose(scaled.gpu_hours(), n * table.gpu_hours(), rtol=1e-12)
    assert len(set(scaled.job_id.tolist())) == len(scaled)
    assert (np.diff(scaled.submit_s) >= 0).all() and (scaled.submit_s >= 0).all()
    assert scale_trace(table, time_compression=k, replicate=n, seed=seed).digest() == scaled.digest()
