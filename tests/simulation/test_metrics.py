"""Metrics: hourly per-site bins conserve GPU-seconds exactly, carbon integrates the hourly intensity, and
per-job sums match per-segment accounting."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hexagrid.domain import JobKind
from hexagrid.simulation.metrics import _hourly_bins, same_outcome_note
from hexagrid.simulation.runtime import RuntimeModel, speed_factor


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 2), st.floats(0, 40), st.floats(0, 20), st.floats(0.1, 50)), min_size=1, max_size=30
    )
)
def test_hourly_bins_match_brute_force(segs: list[tuple[int, float, float, float]]) -> None:
    site = np.array([s for s, _, _, _ in segs], dtype=np.int64)
    a = np.array([x for _, x, _, _ in segs])
    b = a + np.array([d for _, _, d, _ in segs])
    v = np.array([w for _, _, _, w in segs])
    n_hours = int(np.ceil(b.max())) + 1
    got = _hourly_bins(site, a, b, v, 3, n_hours)
    want = np.zeros((3, n_hours))
    for s, x0, x1, w in zip(site, a, b, v, strict=True):
        for h in range(n_hours):
            want[s, h] += w * max(0.0, min(x1, h + 1) - max(x0, h))
    assert np.allclose(got, want, atol=1e-9)
    assert got.sum() == pytest.approx(float(np.sum(v * (b - a))))


def test_runtime_model_speeds_and_checkpoints() -> None:
    m = RuntimeModel(restart_cost_s=300)
    assert speed_factor("A100", JobKind.TRAINING) == 1.0
    assert speed_factor("B200", JobKind.TRAINING) == pytest.approx(5.5)
    assert speed_factor("H100", JobKind.INFERENCE) == pytest.approx(3.0)
    assert m.segment_s(5500, "B200", JobKind.TRAINING, restarting=False) == pytest.approx(1000)
    assert m.segment_s(5500, "B200", JobKind.TRAINING, restarting=True) == pytest.approx(1300)
    # 1,000 s on a B200 with 10-min checkpoints keeps 600 s of progress = 3,300 reference seconds
    assert m.saved_ref_s(1000, "B200", JobKind.TRAINING, False, 600) == pytest.approx(3300)
    # after a restart the first 300 s are reloading: 1,000 s keep one checkpoint of 600 s
    assert m.saved_ref_s(1000, "A100", JobKind.TRAINING, True, 600) == pytest.approx(600)
    assert m.saved_ref_s(1000, "A100", JobKind.TRAINING, True, 800) == 0.0
    assert m.saved_ref_s(1000, "A100", JobKind.TRAINING, False, None) == 0.0


def _policy(wait_s: float, tco2: float) -> dict[str, float]:
    return {
        "completed": 100,
        "utilisation": 0.0031,
        "mean_wait_s": wait_s,
        "p99_wait_s": 60.0,
        "mean_completion_s": 5000.0,
        "energy_mwh": 12.5,
        "tco2": tco2,
        "cost_eur": 900.0,
        "deadline_misses": 0,
        "preemptions": 0,
    }


def test_policies_with_identical_results_are_named_with_their_load() -> None:
    summary = {
        "policies": {"fifo": _policy(26.6, 42.4), "backfill": _policy(26.6, 42.4), "hexagrid": _policy(7342, 17.8)}
    }
    note = same_outcome_note(summary)
    assert note is not None
    assert note.startswith("fifo and backfill gave identical results")
    assert "0.3% utilisation" in note and "p99 wait 60 s" in note
    assert "hexagrid" not in note.split("(")[0] and "Backfill departs from FIFO" in note
    other = same_outcome_note({"policies": {"backfill": _policy(26.6, 42.4), "hexagrid": _policy(26.6, 42.4)}})
    assert other == (
        "backfill and hexagrid gave identical results (waits, energy, carbon and cost) on this run "
        "(0.3% utilisation, p99 wait 60 s)."
    )


def test_no_note_when_every_policy_differs() -> None:
    summary = {"policies": {"fifo": _policy(26.6, 42.4), "backfill": _policy(20.1, 42.4)}}
    assert same_outcome_note(summary) is None
    summary = {"policies": {"fifo": _policy(26.6, 42.4), "backfill": _policy(26.6, 42.3)}}
    assert same_outcome_note(summary) is None
