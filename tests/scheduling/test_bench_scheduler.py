"""The scheduler benchmark on a small fleet: it runs, every job gets a decision, and the CLI contract holds."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from hexagrid.benchmarks.scheduler import run_scheduler_bench, synthetic_fleet, synthetic_queue


def test_small_bench_considers_every_job_and_both_places_and_refuses() -> None:
    r = run_scheduler_bench(gpus=40_000, pending=3000, seed=3)
    assert r.decisions == r.backfill_decisions == 3000
    assert 0 < r.placed < 3000 and 0 < r.backfill_placed < 3000
    assert r.sites >= 40 and r.pools >= 200
    # the queue asks about twice the free GPUs (node granularity and envelopes blur it on small fleets)
    assert 1.6 <= r.requested_gpus / r.free_gpus <= 2.4
    again = run_scheduler_bench(gpus=40_000, pending=3000, seed=3)
    assert (again.placed, again.backfill_reasons) == (r.placed, r.backfill_reasons)


def test_synthetic_fleet_and_queue_are_seeded_and_mixed() -> None:
    f1, t1 = synthetic_fleet(20_000, np.random.default_rng(7))
    f2, _ = synthetic_fleet(20_000, np.random.default_rng(7))
    assert f1 == f2
    assert {s.kind.value for s in f1.sites} == {"public_supercomputer", "private_cloud", "enterprise_idle"}
    assert len({p.accelerator for s in f1.sites for p in s.pools}) >= 5
    q = synthetic_queue(2000, t1, 0.0, np.random.default_rng(1))
    sizes = {j.resources.gpus for j in q}
    assert min(sizes) == 1 and max(sizes) >= 256
    assert {str(j.residency) for j in q} == {"FR", "EU", "ANY"}


def test_cli_json_keys_and_bad_input() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "hexagrid.cli.main",
            "bench",
            "scheduler",
            "--gpus",
            "3000",
            "--pending",
            "200",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    for key in (
        "gpus",
        "pending",
        "decisions",
        "placed",
        "wall_s",
        "decisions_per_s",
        "backfill_wall_s",
        "warm_cpu_s",
        "peak_rss_mb",
        "compiled",
    ):
        assert key in doc
    assert doc["pending"] == doc["decisions"] == 200
    bad = subprocess.run(
        [sys.executable, "-m", "hexagrid.cli.main", "bench", "scheduler", "--pending", "0"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip() == "hexagrid: error: --pending must be at least 1, got 0"
