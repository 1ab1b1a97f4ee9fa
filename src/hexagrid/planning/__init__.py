"""Capacity planning: where and when to build AI capacity (sites, MW, accelerators per year), solved as a
MILP with HiGHS and checked by simulation. See ``docs/planning.md`` for the formulation.
"""

from hexagrid.planning.inputs import PlanningScenario
from hexagrid.planning.loader import builtin_names, load_planning, parse_planning
from hexagrid.planning.solve import Diagnosis, Plan, diagnose, solve_plan

__all__ = [
    "Diagnosis",
    "Plan",
    "PlanningScenario",
    "builtin_names",
    "diagnose",
    "load_planning",
    "parse_planning",
    "solve_plan",
]
