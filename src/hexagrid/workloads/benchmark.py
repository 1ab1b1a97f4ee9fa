"""The workloads benchmark: how long the simulator's inputs take to build.

Times (``time.perf_counter``, one run each after a warm-up load) of: loading the packaged ITP and
Philly traces, mapping ITP over a scenario's tenants, turning ITP into JobSpecs, generating
``jobs`` synthetic jobs (default 1,000,000), mapping them, turning them into JobSpecs, and scaling
ITP to about a million jobs (time compression x10, 15 copies). Each step reports wall time (``<step>_s``)
and process CPU time (``<step>_cpu_s``). Peak RSS from ``resource.getrusage``.
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


def _timed(fn: Callable[[], Any], key: str, fig: dict[str, Any]) -> Any:
    """Run ``fn``; record its wall time as ``fig[key]`` and its process CPU time as ``fig[key_cpu]``.

    CPU time is reported beside wall time because a shared 2-core machine's wall time depends on the
    neighbours; CPU time much less.
    """
    gc.collect()
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    fig[key] = time.perf_counter() - t0
    fig[key.removesuffix("_s") + "_cpu_s"] = time.process_time() - c0
    return out


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
    itp = _timed(lambda: load_trace("itp"), "load_itp_s", fig)
    say("load philly")
    philly = _timed(lambda: load_trace("philly"), "load_philly_s", fig)
    fig["itp_jobs"], fig["philly_jobs"] = len(itp), len(philly)
    say("map itp")
    mapped = _timed(lambda: rule.apply_scenario(itp, scen, seed), "map_itp_s", fig)
    say("itp jobspecs")
    specs = _timed(lambda: mapped.to_jobspecs(start_s), "jobspecs_itp_s", fig)
    fig["jobspecs_itp_us_per_job"] = fig["jobspecs_itp_s"] / len(specs) * 1e6
    del specs
    say(f"generate {jobs:,} synthetic jobs")
    synth = _timed(
        lambda: generate_synthetic(jobs, seed=seed, start_s=start_s, horizon_s=30 * 86400.0), "generate_s", fig
    )
    fig["synthetic_gpu_hours"] = round(synth.gpu_hours(), 1)
    say(f"map {jobs:,} synthetic jobs")
    synth_mapped = _timed(lambda: rule.apply_scenario(synth, scen, seed), "map_synthetic_s", fig)
    say(f"{jobs:,} jobspecs")
    specs = _timed(lambda: synth_mapped.to_jobspecs(start_s), "jobspecs_synthetic_s", fig)
    fig["jobspecs_synthetic_us_per_job"] = fig["jobspecs_synthetic_s"] / max(1, len(specs)) * 1e6
    del specs
    say("scale itp x15")
    scaled = _timed(lambda: scale_trace(itp, time_compression=10.0, replicate=15, seed=seed), "scale_itp_s", fig)
    fig["scaled_jobs"] = len(scaled)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fig["peak_rss_mb"] = round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)
    return fig
