"""Synthetic demand: many more jobs than the traces hold, with their shape (sizes, durations, rhythm).

Arrivals are a non-homogeneous Poisson process conditioned on the job count: the hourly rate is
``diurnal[hour] x weekly[weekday] x (1 + growth_per_year) ** years``, and ``n_jobs`` arrival times are
drawn by inverse CDF over those hourly rates (uniform within the hour) and sorted: the order
statistics of a Poisson process with that rate, given its count. Sizes (GPUs) and durations are drawn
per kind; everything is vectorised numpy on one seeded Generator, so a million jobs take about a second.
Defaults and their reasoning are in docs/workloads.md.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hexagrid.domain import JobKind
from hexagrid.errors import InputError
from hexagrid.workloads.table import KINDS, JobTable

__all__ = ["DurationModel", "SyntheticMix", "generate_synthetic"]

_YEAR_S = 365.25 * 86400
_MAX_DURATION_S = 14 * 86400.0
_MIN_DURATION_S = 60.0


class DurationModel(BaseModel):
    """Log-normal run time on the reference accelerator (A100): ``median_s x exp(sigma x N(0,1)) x gpus^size_exponent``.

    Clipped to 60 s .. 14 days.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    median_s: float = Field(gt=0, le=30 * 86400)
    sigma: float = Field(ge=0, le=5)
    size_exponent: float = Field(default=0.0, ge=0, le=2)


def _sizes(**shares: float) -> dict[int, float]:
    return {int(k.removeprefix("g")): v for k, v in shares.items()}


#: Local hours 0..23. Working hours peak at 1.6, the small hours 0.48: 3.3x, Philly's own ratio of
#: its busiest to its quietest hour (2.09 / 0.64 of the mean); a CET working day in shape (estimate).
_DIURNAL = (0.55, 0.50, 0.48, 0.48, 0.48, 0.52, 0.65, 0.85, 1.15, 1.45, 1.60, 1.60,
            1.45, 1.55, 1.60, 1.60, 1.50, 1.35, 1.15, 1.00, 0.90, 0.80, 0.70, 0.62)  # fmt: skip


class SyntheticMix(BaseModel):
    """What synthetic demand looks like. Every default is an estimate; docs/workloads.md gives the reasoning."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind_shares: dict[str, float] = Field(
        default_factory=lambda: {"training": 0.35, "fine_tuning": 0.25, "inference": 0.15, "batch": 0.25}
    )
    sizes: dict[str, dict[int, float]] = Field(
        default_factory=lambda: {
            # ITP's histogram (83% 1 GPU, 10% 8 GPUs, 0.1% 64) with a heavy tail up to 1,024 GPUs
            "training": _sizes(
                g1=0.55,
                g2=0.04,
                g4=0.07,
                g8=0.20,
                g16=0.05,
                g32=0.04,
                g64=0.025,
                g128=0.013,
                g256=0.007,
                g512=0.003,
                g1024=0.002,
            ),
            "fine_tuning": _sizes(g1=0.45, g2=0.15, g4=0.20, g8=0.17, g16=0.02, g32=0.01),
            "inference": _sizes(g1=0.60, g2=0.20, g4=0.12, g8=0.08),
            "batch": _sizes(g1=0.80, g2=0.10, g4=0.06, g8=0.04),
        },
        description="kind -> GPUs per job -> share",
    )
    durations: dict[str, DurationModel] = Field(
        default_factory=lambda: {
            # ITP (training): median 10,537 s on V100 = 4,742 s on A100; sigma of ln(duration) 1.21;
            # ITP's medians grow with size about as gpus^0.3 (1 GPU 10.1k s, 8 GPUs 18.3k s)
            "training": DurationModel(median_s=4742, sigma=1.2, size_exponent=0.3),
            # between the two traces' medians (geometric mean of 10,537 s and 1,144 s, V100 -> A100)
            "fine_tuning": DurationModel(median_s=1562, sigma=1.5, size_exponent=0.1),
            # offline/batch inference sessions: half an hour, narrow spread
            "inference": DurationModel(median_s=1800, sigma=1.0),
            # Philly's many short jobs: median 1,144 s on V100 = 515 s on A100, sigma 2.16
            "batch": DurationModel(median_s=515, sigma=2.16),
        }
    )
    diurnal: tuple[float, ...] = Field(
        default=_DIURNAL,
        description="relative arrival rate per local hour 0..23: peak 3.3x the trough, as in Philly",
    )
    weekly: tuple[float, ...] = Field(
        default=(1.0, 1.05, 1.05, 1.0, 0.9, 0.5, 0.45),
        description="relative arrival rate Monday..Sunday: weekends about half a weekday (Philly: 0.52)",
    )
    utc_offset_h: float = Field(default=1.0, ge=-12, le=14, description="local time of the users (CET = +1)")
    growth_per_year: float = Field(default=0.5, ge=-0.9, le=10, description="arrival rate growth, +50%/year")

    @model_validator(mode="after")
    def _check(self) -> SyntheticMix:
        kinds = [k.value for k in JobKind]
        for name, d in (("kind_shares", self.kind_shares), ("sizes", self.sizes), ("durations", self.durations)):
            bad = sorted(set(d) - set(kinds))
            if bad:
                raise ValueError(f"{name}: unknown kind(s) {', '.join(bad)}; accepted: {', '.join(kinds)}")
        if any(v < 0 for v in self.kind_shares.values()) or sum(self.kind_shares.values()) <= 0:
            raise ValueError(f"kind_shares: shares must be >= 0 and sum to more than 0, got {self.kind_shares}")
        for kind, share in self.kind_shares.items():
            if share <= 0:
                continue
            if kind not in self.sizes or kind not in self.durations:
                raise ValueError(f"kind {kind} has a share but no sizes/durations entry")
            sizes = self.sizes[kind]
            if not sizes or any(g < 1 or g > 4096 for g in sizes) or any(p < 0 for p in sizes.values()):
                raise ValueError(f"sizes.{kind}: GPU counts 1..4096 with shares >= 0, got {sizes}")
            if sum(sizes.values()) <= 0:
                raise ValueError(f"sizes.{kind}: shares must sum to more than 0")
            if any(g > 8 and g % 8 for g in sizes):
                raise ValueError(f"sizes.{kind}: jobs above 8 GPUs take whole nodes of 8, got {sorted(sizes)}")
        if len(self.diurnal) != 24 or min(self.diurnal) < 0 or sum(self.diurnal) <= 0:
            raise ValueError(f"diurnal: needs 24 rates >= 0 (local hours 0..23), got {len(self.diurnal)}")
        if len(self.weekly) != 7 or min(self.weekly) < 0 or sum(self.weekly) <= 0:
            raise ValueError(f"weekly: needs 7 rates >= 0 (Monday..Sunday), got {len(self.weekly)}")
        return self

    def mean_gpu_hours_per_job(self) -> float:
        """Expected GPU-hours of one job on the reference accelerator (an analytic estimate).

        ``sum over kinds and sizes of share x p(size) x size x median x size^e x exp(sigma^2 / 2) / 3600``:
        the log-normal's mean, ignoring the 60 s .. 14 day clip (which moves it by a few percent).
        """
        total = sum(self.kind_shares.values())
        out = 0.0
        for kind, share in self.kind_shares.items():
            if share <= 0:
                continue
            sizes = self.sizes[kind]
            psum = sum(sizes.values())
            model = self.durations[kind]
            mean_factor = float(np.exp(model.sigma**2 / 2))
            for g, p in sizes.items():
                out += (share / total) * (p / psum) * g * model.median_s * g**model.size_exponent * mean_factor
        return out / 3600.0

    def horizon_for_load(self, n_jobs: int, gpus: int, load: float) -> float:
        """Seconds over which ``n_jobs`` offer ``load`` x ``gpus`` busy GPUs on average (an estimate).

        Use it to size a synthetic run to a fleet: e.g. 1,000,000 jobs at 0.7 of a 1,000,000-GPU
        fleet. Offered load only: the fleet's rules and power may keep utilisation below it.
        """
        if gpus < 1 or not 0 < load <= 100 or n_jobs < 1:
            raise InputError(
                f"horizon_for_load: needs n_jobs >= 1, gpus >= 1, 0 < load <= 100; got {n_jobs}, {gpus}, {load}"
            )
        return n_jobs * self.mean_gpu_hours_per_job() * 3600.0 / (gpus * load)

    def hourly_rates(self, start_s: float, horizon_s: float) -> np.ndarray:
        """Relative arrival rate of each hour of ``[start_s, start_s + horizon_s)`` (the last one partial)."""
        hours = int(np.ceil(horizon_s / 3600.0))
        t = start_s + 3600.0 * np.arange(hours)
        local = t + self.utc_offset_h * 3600.0
        hour = (np.floor(local / 3600.0) % 24).astype(np.int64)
        weekday = ((np.floor(local / 86400.0) + 3) % 7).astype(np.int64)  # 1970-01-01 was a Thursday
        years = (t - start_s) / _YEAR_S
        rate = np.asarray(self.diurnal)[hour] * np.asarray(self.weekly)[weekday] * (1.0 + self.growth_per_year) ** years
        width = np.minimum(3600.0, horizon_s - 3600.0 * np.arange(hours))
        return rate * width / 3600.0


def generate_synthetic(
    n_jobs: int,
    seed: int,
    start_s: float,
    horizon_s: float,
    mix: SyntheticMix | None = None,
    name: str = "synthetic",
) -> JobTable:
    """``n_jobs`` synthetic jobs submitted over ``[0, horizon_s)`` from ``start_s`` (POSIX, sets the calendar).

    Returns a :class:`JobTable` with kinds set, durations on the reference accelerator (A100), ids
    ``syn-NNNNNNN`` in submit order; apply a :class:`~hexagrid.workloads.mapping.MappingRule` for the
    rest. Same arguments, same seed: byte-identical table.
    """
    mix = mix or SyntheticMix()
    if n_jobs < 0 or n_jobs > 100_000_000:
        raise InputError(f"n_jobs: must be within 0..100,000,000, got {n_jobs}")
    if not horizon_s > 0 or horizon_s > 50 * _YEAR_S:
        raise InputError(f"horizon_s: must be > 0 and at most 50 years, got {horizon_s}")
    rng = np.random.default_rng(np.random.SeedSequence(seed))

    rates = mix.hourly_rates(start_s, horizon_s)
    cdf = np.cumsum(rates)
    if cdf[-1] <= 0:
        raise InputError("diurnal/weekly rates are zero over the whole horizon; no job can arrive")
    u = rng.random(n_jobs) * cdf[-1]
    hour = np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1)
    width = np.minimum(3600.0, horizon_s - 3600.0 * hour)
    submit = np.sort(3600.0 * hour + rng.random(n_jobs) * width)

    labels = [k.value for k in KINDS]
    shares = np.array([mix.kind_shares.get(k, 0.0) for k in labels], dtype=np.float64)
    kind = rng.choice(len(KINDS), size=n_jobs, p=shares / shares.sum()).astype(np.int8)
    gpus = np.empty(n_jobs, dtype=np.int64)
    duration = np.empty(n_jobs, dtype=np.float64)
    normal = rng.standard_normal(n_jobs)
    for code, label in enumerate(labels):
        mask = kind == code
        count = int(mask.sum())
        if not count:
            continue
        sizes = mix.sizes[label]
        values = np.array(sorted(sizes), dtype=np.int64)
        p = np.array([sizes[v] for v in sorted(sizes)], dtype=np.float64)
        g = values[rng.choice(len(values), size=count, p=p / p.sum())]
        gpus[mask] = g
        model = mix.durations[label]
        duration[mask] = (
            model.median_s * np.exp(model.sigma * normal[mask]) * g.astype(np.float64) ** model.size_exponent
        )
    np.clip(duration, _MIN_DURATION_S, _MAX_DURATION_S, out=duration)
    duration = np.round(duration)

    ids = np.array([f"syn-{i:07d}" for i in range(n_jobs)], dtype=object)
    return JobTable.from_arrays(
        name,
        job_id=ids,
        submit_s=submit,
        duration_s=duration,
        gpus=gpus,
        kind=kind,
        reference_accelerator="A100",
        origin_s=float(start_s),
        notes=(f"synthetic demand, seed {seed}: arrivals diurnal x weekly x growth {mix.growth_per_year:+.0%}/year",),
    )
