"""The workloads benchmark: how long the simulator's inputs take to build.

Times (``time.perf_counter``, one run each after a warm-up load) of: loading the packaged ITP and
Philly traces, mapping ITP over a scenario's tenants, turning ITP into JobSpecs, generating
``jobs`` synthetic jobs (default 1,000,000), mapping them, turning them into JobSpecs, and scaling
ITP to about a million jobs (time compression x10, 15 copies). Peak RSS from ``resource.getrusage``.
"""

from __future__ import annotations

import gc
import platform
import resource
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

__all__ = ["run_workloads_bench"]


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    gc.collect()
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def run_workloads_bench(
    jobs: int = 1_000_000,
    seed: int = 0,
    scenario: str = "france-2028",
    step: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the benchmark and return its figures (seconds, jobs, µs per job, peak RSS)."""
    from hexagrid.scenarios import load_scenario
    from hexagrid.workloads import MappingRule, generate_synthetic, load_trace, scale_trace

    say = step or (lambda _msg: None)
    scen = load_scenario(scenario)
    rule = MappingRule()
    start_s = datetime(2028, 1, 3, tzinfo=UTC).timestamp()
    fig: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "scenario": scenario,
        "synthetic_jobs": jobs,
        "seed": seed,
    }
    load_trace("itp")  # warm-up: imports, file cache
    say("load itp")
    itp, fig["load_itp_s"] = _timed(lambda: load_trace("itp"))
    say("load philly")
    philly, fig["load_philly_s"] = _timed(lambda: load_trace("philly"))
    fig["itp_jobs"], fig["philly_jobs"] = len(itp), len(philly)
    say("map itp")
    mapped, fig["map_itp_s"] = _timed(lambda: rule.apply_scenario(itp, scen, seed))
    say("itp jobspecs")
    specs, fig["jobspecs_itp_s"] = _timed(lambda: mapped.to_jobspecs(start_s))
    fig["jobspecs_itp_us_per_job"] = fig["jobspecs_itp_s"] / len(specs) * 1e6
    del specs
    say(f"generate {jobs:,} synthetic jobs")
    synth, fig["generate_s"] = _timed(
        lambda: generate_synthetic(jobs, seed=seed, start_s=start_s, horizon_s=30 * 86400.0)
    )
    fig["synthetic_gpu_hours"] = round(synth.gpu_hours(), 1)
    say(f"map {jobs:,} synthetic jobs")
    synth_mapped, fig["map_synthetic_s"] = _timed(lambda: rule.apply_scenario(synth, scen, seed))
    say(f"{jobs:,} jobspecs")
    specs, fig["jobspecs_synthetic_s"] = _timed(lambda: synth_mapped.to_jobspecs(start_s))
    fig["jobspecs_synthetic_us_per_job"] = fig["jobspecs_synthetic_s"] / max(1, len(specs)) * 1e6
    del specs
    say("scale itp x15")
    scaled, fig["scale_itp_s"] = _timed(lambda: scale_trace(itp, time_compression=10.0, replicate=15, seed=seed))
    fig["scaled_jobs"] = len(scaled)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fig["peak_rss_mb"] = round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)
    return fig
