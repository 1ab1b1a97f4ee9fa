"""The closed vocabularies of the domain, as string enums (their values are what files and APIs use)."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "Access",
    "Cooling",
    "JobKind",
    "Objective",
    "SiteKind",
    "SovereigntyTier",
    "TenantClass",
]


class SiteKind(StrEnum):
    PUBLIC_SUPERCOMPUTER = "public_supercomputer"
    PRIVATE_CLOUD = "private_cloud"
    ENTERPRISE_IDLE = "enterprise_idle"


class Cooling(StrEnum):
    AIR = "air"
    DIRECT_LIQUID = "direct_liquid"
    CLOSED_LOOP_WATER = "closed_loop_water"
    IMMERSION = "immersion"


class Access(StrEnum):
    """Which tenant classes a site serves."""

    ACADEMIC = "academic"
    COMMERCIAL = "commercial"
    BOTH = "both"

    def admits(self, tenant_class: TenantClass) -> bool:
        return self is Access.BOTH or self.value == tenant_class.value


class TenantClass(StrEnum):
    ACADEMIC = "academic"
    COMMERCIAL = "commercial"


class SovereigntyTier(StrEnum):
    """Ordered: ``secnumcloud`` > ``eu_sovereign`` > ``standard``; compare with :attr:`rank`."""

    STANDARD = "standard"
    EU_SOVEREIGN = "eu_sovereign"
    SECNUMCLOUD = "secnumcloud"

    @property
    def rank(self) -> int:
        return _TIER_RANK[self]

    def satisfies(self, minimum: SovereigntyTier) -> bool:
        return self.rank >= minimum.rank


_TIER_RANK = {SovereigntyTier.STANDARD: 0, SovereigntyTier.EU_SOVEREIGN: 1, SovereigntyTier.SECNUMCLOUD: 2}


class JobKind(StrEnum):
    TRAINING = "training"
    FINE_TUNING = "fine_tuning"
    INFERENCE = "inference"
    BATCH = "batch"


class Objective(StrEnum):
    COST = "cost"
    CARBON = "carbon"
    TIME = "time"
    BALANCED = "balanced"
