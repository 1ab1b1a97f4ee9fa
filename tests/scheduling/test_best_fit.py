"""The node picker against a brute-force best fit: the fewest free GPUs that still fit, lowest index on ties."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hexagrid.scheduling.state import best_fit_list, best_fit_nodes


def _brute(free: list[int], nodes: int, g: int, exclude: list[bool] | None) -> list[int] | None:
    ok = [i for i, f in enumerate(free) if f >= g and not (exclude and exclude[i])]
    if len(ok) < nodes:
        return None
    return sorted(sorted(ok, key=lambda i: (free[i], i))[:nodes])


@settings(max_examples=300, deadline=None)
@given(
    gpn=st.sampled_from([1, 2, 4, 8]),
    data=st.data(),
)
def test_best_fit_matches_brute_force(gpn: int, data: st.DataObject) -> None:
    free = data.draw(st.lists(st.integers(0, gpn), min_size=1, max_size=40))
    g = data.draw(st.integers(1, gpn))
    nodes = data.draw(st.integers(1, 3))
    exclude = data.draw(st.none() | st.lists(st.booleans(), min_size=len(free), max_size=len(free)))
    arr = np.array(free, dtype=np.int16)
    ex = None if exclude is None else np.array(exclude, dtype=np.bool_)
    at_least = np.array([sum(f >= k for f in free) for k in range(gpn + 2)], dtype=np.int64)
    want = _brute(free, nodes, g, exclude)
    for hint in (None, at_least):
        got = best_fit_nodes(arr, nodes, g, gpn, ex, hint)
        assert (None if got is None else got.tolist()) == want
    if exclude is None:  # the list form (no exclusions) picks the same nodes
        assert best_fit_list(free, nodes, g) == want


def test_one_gpu_job_takes_the_fullest_node_that_fits_not_the_first() -> None:
    free = np.array([8, 8, 3, 1, 2, 1], dtype=np.int16)
    got = best_fit_nodes(free, 1, 1, 8)
    assert got is not None and got.tolist() == [3]
    got = best_fit_nodes(free, 1, 2, 8, exclude=np.array([0, 0, 0, 0, 1, 0], dtype=np.bool_))
    assert got is not None and got.tolist() == [2]
