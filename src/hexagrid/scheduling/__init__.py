"""The scheduler: one pure engine that places AI jobs under residency, sovereignty, access, power and gang rules.

``Scheduler(config).decide(state, queue, signals, now_s)`` serves the simulator and the live control
plane alike; see docs/scheduling.md for the contract, the rules' precedence and the policies.
"""

from hexagrid.scheduling.backfill import Reservation
from hexagrid.scheduling.config import ObjectiveWeights, SchedulerConfig
from hexagrid.scheduling.explain import SiteVerdict, explain, reservation_for
from hexagrid.scheduling.queue import JobQueue, JobRow
from hexagrid.scheduling.scheduler import Scheduler, order_queue
from hexagrid.scheduling.state import ClusterState, FleetIndex, RunningJob

__all__ = [
    "ClusterState",
    "FleetIndex",
    "JobQueue",
    "JobRow",
    "ObjectiveWeights",
    "Reservation",
    "RunningJob",
    "Scheduler",
    "SchedulerConfig",
    "SiteVerdict",
    "explain",
    "order_queue",
    "reservation_for",
]
