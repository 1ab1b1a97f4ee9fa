"""The attribute mapping rule: what trace jobs lack (tenant, kind, residency, ...), drawn by a seeded rule.

Real GPU traces record when a job came, how long it ran and on how many GPUs; they say nothing of
who owned it, whether its data must stay in France or whether it may be preempted. Hexagrid's
scheduler needs all of that, so :class:`MappingRule` assigns it: every draw comes from one
``numpy.random.Generator`` seeded by the caller, column-wise (a million jobs in well under a second),
with the shares in :class:`AttributeShares` (defaults and their reasoning in docs/workloads.md).
The same table, tenants, shares and seed give byte-identical columns.

The order of the steps is part of the rule (each step draws from the generator in turn):
tenant class, tenant, project, kind, residency, min_tier, deadline, preemptible, checkpoint interval,
objective, accelerator set, walltime.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hexagrid.domain import CATALOG, JobKind, Objective, Residency, Scenario, Tenant
from hexagrid.domain.kinds import SovereigntyTier, TenantClass
from hexagrid.errors import InputError
from hexagrid.workloads.table import GPUS_PER_NODE, KINDS, OBJECTIVES, TENANT_CLASSES, TIERS, JobTable

__all__ = ["DEFAULT_TENANTS", "AttributeShares", "MappingRule", "ResidencyShares"]

Share = Annotated[float, Field(ge=0, le=1)]
_RESIDENCY_LABELS = ("FR", "EU", "ANY")


def _normalise(name: str, shares: dict[str, float], allowed: Sequence[str]) -> dict[str, float]:
    unknown = sorted(set(shares) - set(allowed))
    if unknown:
        raise ValueError(f"{name}: unknown key(s) {', '.join(unknown)}; accepted: {', '.join(allowed)}")
    if any(v < 0 for v in shares.values()):
        raise ValueError(f"{name}: shares must be >= 0, got {shares}")
    total = sum(shares.values())
    if total <= 0:
        raise ValueError(f"{name}: shares must sum to more than 0, got {shares}")
    return {k: v / total for k, v in shares.items()}


class ResidencyShares(BaseModel):
    """Shares of FR-only / EU / anywhere among a group of jobs (normalised to sum to 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    FR: float = Field(ge=0)
    EU: float = Field(ge=0)
    ANY: float = Field(ge=0)

    @model_validator(mode="after")
    def _positive(self) -> ResidencyShares:
        if self.FR + self.EU + self.ANY <= 0:
            raise ValueError("residency shares must sum to more than 0")
        return self

    def probabilities(self) -> np.ndarray:
        p = np.array([self.FR, self.EU, self.ANY], dtype=np.float64)
        return p / p.sum()


_RESIDENCY_GROUPS = ("academic", "commercial", "commercial_sensitive")
_DEFAULT_RESIDENCY = {
    "academic": ResidencyShares(FR=0.15, EU=0.35, ANY=0.50),
    "commercial": ResidencyShares(FR=0.25, EU=0.40, ANY=0.35),
    "commercial_sensitive": ResidencyShares(FR=0.60, EU=0.30, ANY=0.10),
}


class AttributeShares(BaseModel):
    """The configurable shares of the mapping rule. Defaults are documented estimates (docs/workloads.md).

    All shares are fractions of jobs; dictionaries of shares are normalised to sum to 1.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    academic_share: Share = Field(
        default=0.3,
        description="estimate: share of jobs from academic tenants where both classes exist "
        "(GENCI's ~4,000 public GPUs against ~10,000 private ones in FACTS.md, with academic use denser)",
    )
    tenant_shares: dict[str, float] | None = Field(
        default=None,
        description="tenant id -> share of all jobs; overrides academic_share and fair_share_weight",
    )
    kind_shares: dict[str, float] = Field(
        default_factory=lambda: {"training": 0.45, "fine_tuning": 0.30, "inference": 0.10, "batch": 0.15},
        description="kinds of jobs up to 8 GPUs (multi-node jobs are always training): the traces are "
        "training clusters, so training leads; fine-tuning is the common use of one node today",
    )
    residency: dict[str, ResidencyShares] = Field(
        default_factory=lambda: dict(_DEFAULT_RESIDENCY),
        description="per group: academic, commercial, and commercial_sensitive (commercial fine-tuning "
        "and inference, which FACTS.md says often must stay in France)",
    )
    secnumcloud_share: Share = Field(
        default=0.3, description="of commercial FR-only jobs, the share that needs a SecNumCloud site"
    )
    eu_sovereign_share: Share = Field(
        default=0.2,
        description="of commercial jobs that may not leave the EU (FR or EU), the share needing eu_sovereign",
    )
    deadline_share: Share = Field(default=0.2, description="share of jobs with a deadline")
    deadline_slack: tuple[float, float] = Field(
        default=(0.5, 4.0),
        description="deadline = submit + expected duration x (1 + slack), slack log-uniform in this range",
    )
    preemptible_share: dict[str, float] = Field(
        default_factory=lambda: {"training": 0.5, "fine_tuning": 0.4, "inference": 0.0, "batch": 0.7},
        description="per kind, the share of jobs that accept preemption (inference serves users: none)",
    )
    checkpoint_interval_s: tuple[float, ...] = Field(
        default=(900.0, 1800.0, 3600.0),
        description="preemptible training and fine-tuning jobs checkpoint every one of these (equal odds)",
    )
    objective_shares: dict[str, float] = Field(
        default_factory=lambda: {"balanced": 0.55, "carbon": 0.15, "cost": 0.20, "time": 0.10}
    )
    inference_priority: int = Field(default=10, ge=-1000, le=1000, description="QoS of inference jobs; others 0")
    accelerator_sets: dict[str, float] = Field(
        default_factory=lambda: {"": 1.0},
        description="comma-separated accepted accelerators ('' = any) -> share of jobs",
    )
    walltime_factor: tuple[float, float] = Field(
        default=(1.0, 1.0),
        description="walltime = expected duration x factor, uniform in this range; (1, 1) = exactly the duration",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_groups(cls, data: Any) -> Any:
        """Residency groups left out keep their defaults, so a file can change one group."""
        if isinstance(data, dict) and isinstance(data.get("residency"), dict):
            data = {**data, "residency": {**_DEFAULT_RESIDENCY, **data["residency"]}}
        return data

    @model_validator(mode="after")
    def _check(self) -> AttributeShares:
        kinds = [k.value for k in JobKind]
        _normalise("kind_shares", self.kind_shares, kinds)
        _normalise("objective_shares", self.objective_shares, [o.value for o in Objective])
        bad = sorted(set(self.preemptible_share) - set(kinds))
        if bad:
            raise ValueError(f"preemptible_share: unknown kind(s) {', '.join(bad)}; accepted: {', '.join(kinds)}")
        for k, v in self.preemptible_share.items():
            if not 0 <= v <= 1:
                raise ValueError(f"preemptible_share.{k}: must be within 0..1, got {v}")
        extra = sorted(set(self.residency) - set(_RESIDENCY_GROUPS))
        if extra:
            raise ValueError(
                f"residency: unknown group(s) {', '.join(extra)}; accepted: {', '.join(_RESIDENCY_GROUPS)}"
            )
        lo, hi = self.deadline_slack
        if not 0 < lo <= hi:
            raise ValueError(f"deadline_slack: needs 0 < low <= high, got {self.deadline_slack}")
        lo, hi = self.walltime_factor
        if not 1 <= lo <= hi:
            raise ValueError(f"walltime_factor: needs 1 <= low <= high, got {self.walltime_factor}")
        if not self.checkpoint_interval_s or any(c <= 0 for c in self.checkpoint_interval_s):
            raise ValueError(f"checkpoint_interval_s: needs one or more values > 0, got {self.checkpoint_interval_s}")
        _normalise("accelerator_sets", self.accelerator_sets, list(self.accelerator_sets))
        for key in self.accelerator_sets:
            for name in filter(None, (a.strip() for a in key.split(","))):
                if name not in CATALOG:
                    raise ValueError(f"accelerator_sets: unknown accelerator {name!r}; known: {', '.join(CATALOG)}")
        if self.tenant_shares is not None:
            _normalise("tenant_shares", self.tenant_shares, list(self.tenant_shares))
        return self


#: Tenants used when a scenario has none: one academic lab and one company, so both classes appear.
DEFAULT_TENANTS: tuple[Tenant, ...] = (
    Tenant.model_validate({"id": "research", "name": "Research labs (default)", "class": "academic"}),
    Tenant.model_validate({"id": "industry", "name": "AI companies (default)", "class": "commercial"}),
)


class MappingRule(BaseModel):
    """Assigns trace jobs what traces lack. ``apply(table, tenants, seed)`` returns a mapped copy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shares: AttributeShares = Field(default_factory=AttributeShares)

    def apply_scenario(self, table: JobTable, scenario: Scenario, seed: int) -> JobTable:
        """:meth:`apply` with the scenario's tenants (the defaults where it has none)."""
        return self.apply(table, scenario.tenants or DEFAULT_TENANTS, seed)

    def apply(self, table: JobTable, tenants: Sequence[Tenant] = DEFAULT_TENANTS, seed: int = 0) -> JobTable:
        """A copy of ``table`` with every mapped column drawn; kinds already set (synthetic jobs) are kept."""
        tenants = list(tenants) or list(DEFAULT_TENANTS)
        s = self.shares
        rng = np.random.default_rng(np.random.SeedSequence(seed))
        n = len(table)

        tenant_codes = self._draw_tenants(rng, table.gpus, tenants)
        classes = tuple(t.tenant_class for t in tenants)
        class_of_tenant = np.array([TENANT_CLASSES.index(c) for c in classes], dtype=np.int8)
        tclass = class_of_tenant[tenant_codes]
        commercial = tclass == TENANT_CLASSES.index(TenantClass.COMMERCIAL)

        project_codes, project_labels = self._draw_projects(rng, tenant_codes, tenants)

        # kind: multi-node jobs are training; the rest by share, unless the table already says
        kind = table.kind.copy()
        unknown = kind < 0
        k_labels = [k.value for k in KINDS]
        p_kind = _probabilities(_normalise("kind_shares", s.kind_shares, k_labels), k_labels)
        drawn = rng.choice(len(KINDS), size=n, p=p_kind).astype(np.int8)
        big = table.gpus > GPUS_PER_NODE
        drawn[big] = KINDS.index(JobKind.TRAINING)
        kind[unknown] = drawn[unknown]

        # residency by group, then tightened to each tenant's own limit
        sensitive = commercial & np.isin(kind, [KINDS.index(JobKind.FINE_TUNING), KINDS.index(JobKind.INFERENCE)])
        u = rng.random(n)
        residency = np.empty(n, dtype=np.int16)
        for group, mask in (
            ("academic", ~commercial),
            ("commercial", commercial & ~sensitive),
            ("commercial_sensitive", sensitive),
        ):
            cdf = np.cumsum(s.residency[group].probabilities())
            residency[mask] = np.minimum(np.searchsorted(cdf, u[mask], side="right"), 2)
        residencies: list[Residency] = [Residency(scope=r) for r in _RESIDENCY_LABELS]
        residency = self._tighten_residency(residency, tenant_codes, tenants, residencies)

        # sovereignty tier: only commercial jobs that must stay in FR / the EU ask for one
        u = rng.random(n)
        tier = np.zeros(n, dtype=np.int8)
        fr = residency == 0
        in_eu = fr | (residency == 1)
        tier[commercial & in_eu & (u < s.eu_sovereign_share)] = TIERS.index(SovereigntyTier.EU_SOVEREIGN)
        tier[commercial & fr & (u >= 1 - s.secnumcloud_share)] = TIERS.index(SovereigntyTier.SECNUMCLOUD)

        # deadlines: a share of jobs, slack log-uniform, relative to the reference-accelerator duration
        expected = table.expected_duration_s
        has_deadline = rng.random(n) < s.deadline_share
        lo, hi = s.deadline_slack
        slack = np.exp(rng.uniform(np.log(lo), np.log(hi), size=n))
        deadline = np.where(has_deadline, table.submit_s + expected * (1.0 + slack), np.nan)

        # preemption and checkpoints
        p_pre = np.array([s.preemptible_share.get(k.value, 0.0) for k in KINDS], dtype=np.float64)
        preemptible = rng.random(n) < p_pre[kind]
        ckpt_choice = np.asarray(s.checkpoint_interval_s, dtype=np.float64)[
            rng.integers(0, len(s.checkpoint_interval_s), size=n)
        ]
        checkpoints = preemptible & np.isin(kind, [KINDS.index(JobKind.TRAINING), KINDS.index(JobKind.FINE_TUNING)])
        checkpoint = np.where(checkpoints, ckpt_choice, np.nan)

        o_labels = [o.value for o in OBJECTIVES]
        p_obj = _probabilities(_normalise("objective_shares", s.objective_shares, o_labels), o_labels)
        objective = rng.choice(len(OBJECTIVES), size=n, p=p_obj).astype(np.int8)

        priority = np.where(kind == KINDS.index(JobKind.INFERENCE), s.inference_priority, 0).astype(np.int16)

        set_keys = list(s.accelerator_sets)
        p_set = _probabilities(_normalise("accelerator_sets", s.accelerator_sets, set_keys), set_keys)
        accel_set = rng.choice(len(set_keys), size=n, p=p_set).astype(np.int16)
        accel_sets = tuple(tuple(a.strip() for a in k.split(",") if a.strip()) for k in set_keys)

        wlo, whi = s.walltime_factor
        exact = wlo == whi == 1.0
        walltime = np.full(n, np.nan) if exact else expected * rng.uniform(wlo, whi, size=n)

        return replace(
            table,
            kind=kind,
            walltime_s=walltime,
            tenant=tenant_codes,
            project=project_codes,
            residency=residency,
            min_tier=tier,
            deadline_s=deadline,
            preemptible=preemptible,
            checkpoint_interval_s=checkpoint,
            priority=priority,
            objective=objective,
            accel_set=accel_set,
            tenants=tuple(t.id for t in tenants),
            tenant_classes=classes,
            projects=project_labels,
            residencies=tuple(residencies),
            accel_sets=accel_sets,
            mapping={"rule": "hexagrid.workloads.MappingRule", "seed": seed, "shares": s.model_dump(mode="json")},
        )

    # -- steps ----------------------------------------------------------------------------------

    def _draw_tenants(self, rng: np.random.Generator, gpus: np.ndarray, tenants: list[Tenant]) -> np.ndarray:
        """Tenant per job: configured shares, or class by ``academic_share`` then ``fair_share_weight``.

        A job only goes to a tenant allowed that many GPUs at once (``max_gpus``), or it could never
        start; jobs of each size draw among the tenants that may run them, with the same rule.
        """
        s = self.shares
        ids = [t.id for t in tenants]
        if s.tenant_shares is not None:
            unknown = sorted(set(s.tenant_shares) - set(ids))
            if unknown:
                raise InputError(f"tenant_shares: unknown tenant(s) {', '.join(unknown)}; tenants: {', '.join(ids)}")
        caps = np.array([t.max_gpus if t.max_gpus is not None else np.inf for t in tenants], dtype=np.float64)
        u = rng.random(len(gpus))
        out = np.zeros(len(gpus), dtype=np.int32)
        sizes = np.unique(gpus)
        # group job sizes by the set of tenants allowed to run them (few groups: one per distinct cap)
        groups: dict[tuple[bool, ...], list[int]] = {}
        for g in sizes.tolist():
            groups.setdefault(tuple((caps >= g).tolist()), []).append(g)
        for allowed_t, group_sizes in groups.items():
            allowed = np.array(allowed_t)
            weights = self._tenant_weights(tenants, allowed)
            if weights.sum() <= 0:
                biggest = max(group_sizes)
                cap_txt = ", ".join(f"{t.id} {t.max_gpus}" for t in tenants if t.max_gpus is not None)
                raise InputError(
                    f"a {biggest}-GPU job has no tenant that may use that many GPUs at once "
                    f"(max_gpus: {cap_txt}) with a share above 0; raise a max_gpus or give such a tenant a share"
                )
            cdf = np.cumsum(weights / weights.sum())
            mask = np.isin(gpus, group_sizes)
            out[mask] = np.minimum(np.searchsorted(cdf, u[mask], side="right"), len(tenants) - 1)
        return out

    def tenant_weights(self, tenants: Sequence[Tenant]) -> np.ndarray:
        """Each tenant's share of jobs under this rule, before any job-size limit (``max_gpus``)."""
        return self._tenant_weights(list(tenants), np.ones(len(tenants), dtype=np.bool_))

    def _tenant_weights(self, tenants: list[Tenant], allowed: np.ndarray) -> np.ndarray:
        """Each tenant's share of jobs among the ``allowed`` ones (zero for the others)."""
        s = self.shares
        if s.tenant_shares is not None:
            weights = np.array([s.tenant_shares.get(t.id, 0.0) for t in tenants], dtype=np.float64)
            return np.where(allowed, weights, 0.0)
        fair = np.where(allowed, np.array([t.fair_share_weight for t in tenants], dtype=np.float64), 0.0)
        academic = np.array([t.tenant_class is TenantClass.ACADEMIC for t in tenants])
        a_total, c_total = fair[academic].sum(), fair[~academic].sum()
        if a_total > 0 and c_total > 0:
            weights = np.zeros(len(tenants))
            weights[academic] = s.academic_share * fair[academic] / a_total
            weights[~academic] = (1 - s.academic_share) * fair[~academic] / c_total
            return weights
        return fair

    @staticmethod
    def _draw_projects(
        rng: np.random.Generator, tenant_codes: np.ndarray, tenants: list[Tenant]
    ) -> tuple[np.ndarray, tuple[str, ...]]:
        """Project per job among its tenant's projects: by GPU-hour allocation if any, else evenly.

        Labels are every tenant's project ids in tenant order, one entry per (tenant, project), so two
        tenants' projects with the same id keep distinct codes.
        """
        labels: list[str] = []
        out = np.full(len(tenant_codes), -1, dtype=np.int32)
        u = rng.random(len(tenant_codes))
        for ti, t in enumerate(tenants):
            if not t.projects:
                continue
            first = len(labels)
            labels.extend(p.id for p in t.projects)
            alloc = np.array([sum(p.allocations_gpu_h.values()) for p in t.projects], dtype=np.float64)
            w = alloc if alloc.sum() > 0 else np.ones(len(t.projects))
            cdf = np.cumsum(w / w.sum())
            mask = tenant_codes == ti
            out[mask] = first + np.minimum(np.searchsorted(cdf, u[mask], side="right"), len(t.projects) - 1)
        return out, tuple(labels)

    @staticmethod
    def _tighten_residency(
        residency: np.ndarray, tenant_codes: np.ndarray, tenants: list[Tenant], residencies: list[Residency]
    ) -> np.ndarray:
        """A job may not be looser than its tenant: FR (0) < EU (1) < ANY (2); a country list replaces it."""
        out = residency.copy()
        for ti, t in enumerate(tenants):
            mask = tenant_codes == ti
            scope = t.residency.scope
            if scope == "ANY":
                continue
            if scope in ("FR", "EU"):
                out[mask] = np.minimum(out[mask], _RESIDENCY_LABELS.index(scope))
            else:
                if t.residency not in residencies:
                    residencies.append(t.residency)
                # FR-only stays FR-only when the tenant's list includes FR (it is the stricter rule)
                replace_mask = mask & (out != 0) if "FR" in t.residency.countries else mask
                out[replace_mask] = residencies.index(t.residency)
        return out


def _probabilities(shares: dict[str, float], labels: Sequence[str]) -> np.ndarray:
    p = np.array([shares.get(k, 0.0) for k in labels], dtype=np.float64)
    return p / p.sum()
