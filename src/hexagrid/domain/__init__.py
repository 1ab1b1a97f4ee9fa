"""The domain model: plain data with validation, no I/O.

Everything else (scheduling, energy, simulation, server) speaks in these types.
"""

from hexagrid.domain.accelerators import CATALOG, REFERENCE_ACCELERATOR, Accelerator, get_accelerator, runtime_s
from hexagrid.domain.decisions import Decision, Defer, NotNow, Preempt, ReasonCode, Start
from hexagrid.domain.fleet import Fleet, NodePool, Site
from hexagrid.domain.geography import EU_COUNTRIES, Residency, haversine_km
from hexagrid.domain.jobs import InferenceSpec, JobSpec, Resources
from hexagrid.domain.kinds import Access, Cooling, JobKind, Objective, SiteKind, SovereigntyTier, TenantClass
from hexagrid.domain.scenario import Scenario, ScenarioDefaults
from hexagrid.domain.signals import CarbonSignals
from hexagrid.domain.tenancy import Project, Tenant
from hexagrid.domain.windows import WeeklySchedule, WeeklyWindow, parse_windows

__all__ = [
    "CATALOG",
    "EU_COUNTRIES",
    "REFERENCE_ACCELERATOR",
    "Accelerator",
    "Access",
    "CarbonSignals",
    "Cooling",
    "Decision",
    "Defer",
    "Fleet",
    "InferenceSpec",
    "JobKind",
    "JobSpec",
    "NodePool",
    "NotNow",
    "Objective",
    "Preempt",
    "Project",
    "ReasonCode",
    "Residency",
    "Resources",
    "Scenario",
    "ScenarioDefaults",
    "Site",
    "SiteKind",
    "SovereigntyTier",
    "Start",
    "Tenant",
    "TenantClass",
    "WeeklySchedule",
    "WeeklyWindow",
    "get_accelerator",
    "haversine_km",
    "parse_windows",
    "runtime_s",
]
