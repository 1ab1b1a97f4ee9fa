"""Workloads: real GPU traces, synthetic demand, and the rule that gives trace jobs what they lack.

    load_trace("itp")                      -> JobTable (69,351 jobs, packaged copy)
    MappingRule().apply(table, tenants, seed) -> JobTable with tenant, kind, residency, ... drawn
    generate_synthetic(n, seed, start_s, horizon_s, SyntheticMix()) -> JobTable
    scale_trace(table, time_compression=k, replicate=n, seed=s) -> JobTable
    table.iter_jobspecs(start_s)           -> Iterator[JobSpec]

A :class:`JobTable` is columnar (numpy) so a million jobs load, map and scale in a second or two.
"""

from hexagrid.workloads.config import load_mix, load_shares
from hexagrid.workloads.loaders import (
    BUILTIN_TRACES,
    TRACE_REFERENCE_NOTE,
    builtin_trace_path,
    load_csv,
    load_itp,
    load_philly,
    load_swf,
    load_trace,
)
from hexagrid.workloads.mapping import DEFAULT_TENANTS, AttributeShares, MappingRule, ResidencyShares
from hexagrid.workloads.scaling import scale_trace
from hexagrid.workloads.synthetic import DurationModel, SyntheticMix, generate_synthetic
from hexagrid.workloads.table import KINDS, OBJECTIVES, TIERS, JobTable, gang_shape

__all__ = [
    "BUILTIN_TRACES",
    "DEFAULT_TENANTS",
    "KINDS",
    "OBJECTIVES",
    "TIERS",
    "TRACE_REFERENCE_NOTE",
    "AttributeShares",
    "DurationModel",
    "JobTable",
    "MappingRule",
    "ResidencyShares",
    "SyntheticMix",
    "builtin_trace_path",
    "gang_shape",
    "generate_synthetic",
    "load_csv",
    "load_itp",
    "load_mix",
    "load_philly",
    "load_shares",
    "load_swf",
    "load_trace",
    "scale_trace",
]
