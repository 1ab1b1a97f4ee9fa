"""Synthetic demand: seeded and byte-identical, with its documented rhythm, shares and sizes."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from pydantic import ValidationError

from hexagrid.errors import InputError
from hexagrid.workloads import JobTable, MappingRule, SyntheticMix, generate_synthetic, scale_trace
from hexagrid.workloads.table import KINDS

START = datetime(2026, 1, 5, tzinfo=UTC).timestamp()  # a Monday
WEEK = 7 * 86400.0


@pytest.fixture(scope="module")
def synth() -> JobTable:
    return generate_synthetic(200_000, seed=11, start_s=START, horizon_s=4 * WEEK)


def test_same_seed_byte_identical(synth: JobTable) -> None:
    again = generate_synthetic(200_000, seed=11, start_s=START, horizon_s=4 * WEEK)
    other = generate_synthetic(200_000, seed=12, start_s=START, horizon_s=4 * WEEK)
    assert synth.digest() == again.digest()
    assert synth.digest() != other.digest()
    m1 = MappingRule().apply(synth, seed=3)
    m2 = MappingRule().apply(again, seed=3)
    assert m1.digest() == m2.digest()


def test_shape(synth: JobTable) -> None:
    assert len(synth) == 200_000
    assert (np.diff(synth.submit_s) >= 0).all()
    assert synth.submit_s.min() >= 0 and synth.submit_s.max() < 4 * WEEK
    assert synth.gpus.min() >= 1 and synth.gpus.max() <= 1024
    assert 1024 in synth.gpu_histogram()
    assert synth.duration_s.min() >= 60 and synth.duration_s.max() <= 14 * 86400
    assert synth.reference_accelerator == "A100"
    assert len(set(synth.job_id.tolist())) == len(synth)
    shares = np.bincount(synth.kind, minlength=4) / len(synth)
    expected = SyntheticMix().kind_shares
    for code, kind in enumerate(KINDS):
        assert shares[code] == pytest.approx(expected[kind.value], abs=0.01)
    # mapping keeps the synthetic kinds
    m = MappingRule().apply(synth, seed=1)
    assert np.array_equal(m.kind, synth.kind)


def test_training_median_duration_follows_the_fit(synth: JobTable) -> None:
    one_gpu_training = (synth.kind == 0) & (synth.gpus == 1)
    assert np.median(synth.duration_s[one_gpu_training]) == pytest.approx(4742, rel=0.05)
    big = (synth.kind == 0) & (synth.gpus >= 256)
    assert np.median(synth.duration_s[big]) > 3 * np.median(synth.duration_s[one_gpu_training])


def test_diurnal_and_weekly_patterns(synth: JobTable) -> None:
    local = START + synth.submit_s + 3600.0  # CET
    hour = (local // 3600) % 24
    weekday = ((local // 86400) + 3) % 7
    day = ((hour >= 9) & (hour < 18)).sum() / 9
    night = ((hour >= 0) & (hour < 6)).sum() / 6
    assert day > 2.5 * night  # default rates: 1.52 vs 0.50 on average
    weekdays = (weekday < 5).sum() / 5
    weekend = (weekday >= 5).sum() / 2
    assert weekend < 0.6 * weekdays


def test_growth_raises_the_rate() -> None:
    mix = SyntheticMix(growth_per_year=1.0)  # doubles in a year
    t = generate_synthetic(100_000, seed=1, start_s=START, horizon_s=365 * 86400.0, mix=mix)
    first = (t.submit_s < 91 * 86400).sum()
    last = (t.submit_s >= 274 * 86400).sum()
    assert last / first == pytest.approx(2 ** (274.5 / 365) / 2 ** (0.5 / 365) * 0.96, rel=0.15)
    flat = generate_synthetic(
        100_000, seed=1, start_s=START, horizon_s=365 * 86400.0, mix=SyntheticMix(growth_per_year=0)
    )
    assert ((flat.submit_s >= 274 * 86400).sum() / (flat.submit_s < 91 * 86400).sum()) == pytest.approx(1.0, abs=0.06)


def test_bad_mix_and_arguments() -> None:
    with pytest.raises(ValidationError, match="diurnal: needs 24 rates"):
        SyntheticMix(diurnal=(1.0,) * 23)
    with pytest.raises(ValidationError, match="whole nodes of 8"):
        SyntheticMix(sizes={**SyntheticMix().sizes, "batch": {12: 1.0}})
    with pytest.raises(ValidationError, match=r"unknown kind.s. gaming"):
        SyntheticMix(kind_shares={"gaming": 1.0})
    with pytest.raises(InputError, match="horizon_s"):
        generate_synthetic(10, seed=1, start_s=START, horizon_s=0)
    with pytest.raises(InputError, match="n_jobs"):
        generate_synthetic(-1, seed=1, start_s=START, horizon_s=3600)


def test_scaling_preserves_gpu_hours_times_n(synth: JobTable) -> None:
    small = MappingRule().apply(synth.head(20_000), seed=2)
    scaled = scale_trace(small, time_compression=4.0, replicate=3, seed=5)
    assert len(scaled) == 3 * len(small)
    assert scaled.gpu_hours() == pytest.approx(3 * small.gpu_hours(), rel=1e-12)
    assert scaled.gpu_histogram() == {g: 3 * c for g, c in small.gpu_histogram().items()}
    assert len(set(scaled.job_id.tolist())) == len(scaled)
    assert (np.diff(scaled.submit_s) >= 0).all() and scaled.submit_s.min() >= 0
    # the original copy is compressed exactly
    orig = np.array([not i.endswith(("-r1", "-r2")) for i in scaled.job_id.tolist()])
    assert np.allclose(np.sort(scaled.submit_s[orig]), small.submit_s / 4.0)
    assert scaled.span_s() == pytest.approx(small.span_s() / 4.0, abs=2 * 1800)
    # deadlines move with their jobs
    d = np.isfinite(scaled.deadline_s)
    gap = scaled.deadline_s[d] - scaled.submit_s[d]
    assert gap.min() > 0
    assert scale_trace(small, 4.0, 3, seed=5).digest() == scaled.digest()
    assert scale_trace(small, 4.0, 3, seed=6).digest() != scaled.digest()
    # the scaled, mapped table still yields valid JobSpecs with distinct ids
    specs = scaled.head(500).to_jobspecs(START)
    assert len({s.id for s in specs}) == 500


def test_scaling_identity_and_errors(synth: JobTable) -> None:
    small = synth.head(1000)
    assert scale_trace(small).digest() != small.digest()  # a note records the scaling
    same = scale_trace(small)
    assert np.array_equal(same.submit_s, small.submit_s) and np.array_equal(same.job_id, small.job_id)
    with pytest.raises(InputError, match="time_compression"):
        scale_trace(small, time_compression=0)
    with pytest.raises(InputError, match="replicate"):
        scale_trace(small, replicate=0)


def test_horizon_for_load_sizes_a_run_to_a_fleet() -> None:
    mix = SyntheticMix()
    t = generate_synthetic(200_000, seed=4, start_s=START, horizon_s=WEEK)
    # the analytic mean matches the drawn one; the tolerance is wide because a quarter of all GPU-hours
    # come from the 0.07% of jobs with 1,024 GPUs (~140 of them here), so the sample mean varies ~8%
    assert t.gpu_hours() / len(t) == pytest.approx(mix.mean_gpu_hours_per_job(), rel=0.15)
    horizon = mix.horizon_for_load(200_000, gpus=100_000, load=0.7)
    sized = generate_synthetic(200_000, seed=4, start_s=START, horizon_s=horizon)
    assert sized.offered_load(100_000) == pytest.approx(0.7, rel=0.15)
    with pytest.raises(InputError, match="horizon_for_load"):
        mix.horizon_for_load(10, gpus=0, load=0.5)


def test_zero_jobs() -> None:
    t = generate_synthetic(0, seed=1, start_s=START, horizon_s=3600)
    assert len(t) == 0 and t.offered_load(10) == 0.0


def test_byte_identical_across_processes() -> None:
    """Same seed, another interpreter (another hash seed): the same digest."""
    import os
    import subprocess
    import sys

    code = (
        "from hexagrid.workloads import *\n"
        "from hexagrid.scenarios import load_scenario\n"
        "s = generate_synthetic(20000, seed=5, start_s=1.7e9, horizon_s=86400.0 * 7)\n"
        "t = scale_trace(load_trace('itp').head(5000), time_compression=3, replicate=2, seed=5)\n"
        "scen = load_scenario('france-2026')\n"
        "r = MappingRule()\n"
        "print(r.apply_scenario(s, scen, 9).digest(), r.apply_scenario(t, scen, 9).digest())\n"
    )
    outs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
        outs.append(proc.stdout)
    assert outs[0] == outs[1] and len(outs[0].split()) == 2


def test_concat_trace_and_synthetic() -> None:
    from hexagrid.workloads import load_trace

    itp = load_trace("itp").head(3000)
    syn = generate_synthetic(2000, seed=1, start_s=START, horizon_s=WEEK)
    both = JobTable.concat([itp, syn])
    assert len(both) == 5000 and (np.diff(both.submit_s) >= 0).all()
    # different references: everything is converted to the A100 reference
    assert both.reference_accelerator == "A100"
    assert both.gpu_hours() == pytest.approx(itp.gpu_hours() * 0.45 + syn.gpu_hours())
    assert both.summary()["kind"]["unknown"] == 3000
    assert both.clusters[0].startswith("microsoft-itp-2021/cluster")
    mapped = MappingRule().apply(both, seed=1)
    assert np.array_equal(mapped.kind[both.kind >= 0], both.kind[both.kind >= 0])
    same_ref = JobTable.concat([itp, load_trace("philly").head(10)])
    assert same_ref.reference_accelerator == "V100"
    with pytest.raises(InputError, match="job ids repeat"):
        JobTable.concat([itp, itp])
    with pytest.raises(InputError, match="map after combining"):
        JobTable.concat([mapped, syn])
