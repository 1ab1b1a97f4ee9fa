"""The runtime model: how long a trace job runs on the accelerator it got, and what a stop costs it.

A trace records durations on the reference accelerator (:data:`hexagrid.domain.REFERENCE_ACCELERATOR`).
On another accelerator the same work takes ``runtime_s`` (relative training or inference throughput from
the catalog in ``hexagrid.domain.accelerators``). A job that restarts after a preemption or a failure
first spends ``restart_cost_s`` of wall time reloading (no progress), then resumes from its last
checkpoint: work done since then is lost. A job without a checkpoint interval restarts from scratch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hexagrid.domain import CATALOG, JobKind, runtime_s

__all__ = ["RuntimeModel", "speed_factor"]


def speed_factor(accelerator: str, kind: JobKind) -> float:
    """Reference seconds of work done per wall second on ``accelerator`` (1.0 for the reference)."""
    return 1.0 / runtime_s(1.0, CATALOG[accelerator], inference=kind is JobKind.INFERENCE)


@dataclass(frozen=True, slots=True)
class RuntimeModel:
    """Checkpoint/restart parameters shared by every job of a run."""

    restart_cost_s: float = 300.0  # reload model and data after a preemption or failure (estimate: 5 min)

    def segment_s(self, remaining_ref_s: float, accelerator: str, kind: JobKind, restarting: bool) -> float:
        """Wall seconds to finish ``remaining_ref_s`` of reference work on ``accelerator``."""
        run = remaining_ref_s / speed_factor(accelerator, kind)
        return run + (self.restart_cost_s if restarting else 0.0)

    def saved_ref_s(
        self, elapsed_s: float, accelerator: str, kind: JobKind, restarting: bool, checkpoint_interval_s: float | None
    ) -> float:
        """Reference work kept when a segment that ran ``elapsed_s`` wall seconds stops early.

        Checkpoints are taken every ``checkpoint_interval_s`` of progress (wall time after the restart
        cost); what ran after the last one is lost. Computed in closed form, not as heap events.
        """
        if not checkpoint_interval_s:
            return 0.0
        progress = elapsed_s - (self.restart_cost_s if restarting else 0.0)
        if progress <= 0:
            return 0.0
        kept_wall = math.floor(progress / checkpoint_interval_s) * checkpoint_interval_s
        return kept_wall * speed_factor(accelerator, kind)
