"""The discrete-event simulator: replays job traces over a fleet with the live scheduler, side by side per policy.

    simulate_policies(scenario, table, carbon=..., policies=("fifo", "backfill", "hexagrid"), out_dir=...)
        -> SimulationOutput (summary dict, per-policy results; writes summary.json, Parquet tables, report.html)
    Simulator(index, tenants, state_factory, decide, signals, start_s, config).run(n_jobs, jobs) -> RunResult

The engine (:mod:`.engine`) orders events; the driver (:mod:`.driver`) applies them and calls
``Scheduler.decide`` exactly as the live controller does; :mod:`.checker` re-checks every start against
the hard rules; :mod:`.metrics` accounts energy, carbon, cost and heat vectorised; :mod:`.report` draws.
"""

from hexagrid.simulation.checker import ConstraintChecker, Violation
from hexagrid.simulation.driver import RunResult, SimConfig, Simulator
from hexagrid.simulation.engine import Clock, Event, EventKind, EventQueue, SimClock, WallClock
from hexagrid.simulation.fleetindex import FleetIndex
from hexagrid.simulation.run import DEFAULT_POLICIES, PolicyRun, SimulationOutput, policy_names, simulate_policies
from hexagrid.simulation.runtime import RuntimeModel, speed_factor

__all__ = [
    "DEFAULT_POLICIES",
    "Clock",
    "ConstraintChecker",
    "Event",
    "EventKind",
    "EventQueue",
    "FleetIndex",
    "PolicyRun",
    "RunResult",
    "RuntimeModel",
    "SimClock",
    "SimConfig",
    "SimulationOutput",
    "Simulator",
    "Violation",
    "WallClock",
    "policy_names",
    "simulate_policies",
    "speed_factor",
]
