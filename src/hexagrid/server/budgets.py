"""Budgets: what an organisation and each of its projects have spent (EUR) against their ``budget_eur``.

Spent = the cost of the ended attempts (the usage records) + what the running attempts have cost up
to now. Both come from :mod:`hexagrid.server.accounting` (``attempt_usage``, the one place a cost is
computed); nothing here prices anything. An attempt without a project counts against the
organisation's only project, as allocations do (and against no project budget when it has several).

A budget of ``None`` is unlimited. A budget is *exhausted* once spent >= budget (so a budget of 0
admits nothing). The scheduling loop keeps the pending jobs of an exhausted organisation or project
out of the queue it hands ``Scheduler.decide``, with reason ``budget``; running jobs are not stopped,
so spend may end above the budget by what they cost until they end. Raising a budget
(``PATCH /v1/orgs/{org}`` or ``PATCH /v1/orgs/{org}/projects/{project}``) frees the jobs at the next pass.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hexagrid.errors import NotFound
from hexagrid.server.accounting import running_attempts
from hexagrid.server.models import Org, Project, UsageRecord

__all__ = ["Budget", "BudgetBook", "budget_book", "set_budget"]


@dataclass(frozen=True, slots=True)
class Budget:
    """One budget and what has been spent against it; ``project`` is ``None`` for the organisation's own."""

    org_id: str
    project: str | None
    budget_eur: float
    spent_eur: float

    @property
    def remaining_eur(self) -> float:
        return max(0.0, self.budget_eur - self.spent_eur)

    @property
    def exhausted(self) -> bool:
        return self.spent_eur >= self.budget_eur

    @property
    def who(self) -> str:
        return f"org {self.org_id}" if self.project is None else f"project {self.project} of org {self.org_id}"

    def sentence(self) -> str:
        """E.g. ``org acme has spent 1,204.50 of its 1,200.00 EUR budget``."""
        return f"{self.who} has spent {self.spent_eur:,.2f} of its {self.budget_eur:,.2f} EUR budget"

    def public(self) -> dict[str, Any]:
        return {
            "scope": "org" if self.project is None else "project",
            "org": self.org_id,
            "project": self.project,
            "budget_eur": self.budget_eur,
            "spent_eur": round(self.spent_eur, 6),
            "remaining_eur": round(self.remaining_eur, 6),
            "exhausted": self.exhausted,
        }


@dataclass
class BudgetBook:
    """The budgets set for some organisations, with their spend at one instant."""

    budgets: dict[tuple[str, str | None], Budget] = field(default_factory=dict)
    only_project: dict[str, str] = field(default_factory=dict)  # org -> its only project

    def project_of(self, org_id: str, project: str | None) -> str | None:
        """The project a job or attempt is charged to: its own, or its organisation's only one."""
        return project if project is not None else self.only_project.get(org_id)

    def for_job(self, org_id: str, project: str | None) -> list[Budget]:
        """The budgets that apply to a job of ``org_id``/``project``: the organisation's, then the project's."""
        out = []
        b = self.budgets.get((org_id, None))
        if b is not None:
            out.append(b)
        p = self.project_of(org_id, project)
        if p is not None:
            b = self.budgets.get((org_id, p))
            if b is not None:
                out.append(b)
        return out

    def binding(self, org_id: str, project: str | None) -> Budget | None:
        """The first exhausted budget that holds a job of ``org_id``/``project``, or ``None``."""
        return next((b for b in self.for_job(org_id, project) if b.exhausted), None)

    def of_org(self, org_id: str) -> list[Budget]:
        """Every budget set in ``org_id``: its own first, then its projects' by id."""
        rows = [b for (o, _), b in self.budgets.items() if o == org_id]
        return sorted(rows, key=lambda b: (b.project is not None, b.project or ""))


def budget_book(
    s: Session,
    *,
    org_ids: Collection[str] | Callable[[], Collection[str]] | None = None,
    now: float | None = None,
) -> BudgetBook:
    """The budgets of ``org_ids`` (default: every organisation) that are set, with their spend at ``now``.

    ``org_ids`` may be a function giving them, called only when some budget is set (the scheduling
    loop derives them from a queue that may be long). Two small queries when no budget is set;
    otherwise the usage records and running jobs of the organisations that have one (and are wanted).
    """
    q_orgs = select(Org.id, Org.budget_eur).where(Org.budget_eur.is_not(None))
    q_projects = select(Project.org_id, Project.id, Project.budget_eur).where(Project.budget_eur.is_not(None))
    org_rows = [(o, b) for o, b in s.execute(q_orgs) if b is not None]
    project_rows = [(o, p, b) for o, p, b in s.execute(q_projects) if b is not None]
    book = BudgetBook()
    if not org_rows and not project_rows:
        return book
    if org_ids is not None:
        wanted = set(org_ids() if callable(org_ids) else org_ids)
        org_rows = [r for r in org_rows if r[0] in wanted]
        project_rows = [r for r in project_rows if r[0] in wanted]
        if not org_rows and not project_rows:
            return book
    orgs = sorted({o for o, _ in org_rows} | {o for o, _, _ in project_rows})
    with_project_budgets = sorted({o for o, _, _ in project_rows})
    if with_project_budgets:
        projects: dict[str, list[str]] = defaultdict(list)
        for o, pid in s.execute(select(Project.org_id, Project.id).where(Project.org_id.in_(with_project_budgets))):
            projects[o].append(pid)
        book.only_project = {o: ps[0] for o, ps in projects.items() if len(ps) == 1}
    spent: dict[tuple[str, str | None], float] = defaultdict(float)
    q = (
        select(UsageRecord.org_id, UsageRecord.project, func.sum(UsageRecord.cost_eur))
        .where(UsageRecord.org_id.in_(orgs))
        .group_by(UsageRecord.org_id, UsageRecord.project)
    )
    for o, project, eur in s.execute(q):
        spent[(o, project)] += float(eur or 0.0)
    for job, u in running_attempts(s, org_ids=orgs, now=now):
        spent[(job.org_id, job.project)] += u["cost_eur"]
    by_org: dict[str, float] = defaultdict(float)
    by_project: dict[tuple[str, str], float] = defaultdict(float)
    for (o, project), eur in spent.items():
        by_org[o] += eur
        charged = book.project_of(o, project)
        if charged is not None:
            by_project[(o, charged)] += eur
    for o, b in org_rows:
        book.budgets[(o, None)] = Budget(o, None, b, by_org.get(o, 0.0))
    for o, p, b in project_rows:
        book.budgets[(o, p)] = Budget(o, p, b, by_project.get((o, p), 0.0))
    return book


def set_budget(s: Session, *, org_id: str, budget_eur: float | None, project: str | None = None) -> Org:
    """Set (or, with ``None``, lift) the budget of an organisation or of one of its projects."""
    org = s.get(Org, org_id, with_for_update=True)
    if org is None:
        raise NotFound(f"organisation {org_id!r} does not exist")
    if project is None:
        org.budget_eur = budget_eur
    else:
        row = s.get(Project, (org_id, project), with_for_update=True)
        if row is None:
            known = [p for (p,) in s.execute(select(Project.id).where(Project.org_id == org_id).order_by(Project.id))]
            raise NotFound(f"project {project!r} of {org_id} does not exist; known: {', '.join(known) or 'none'}")
        row.budget_eur = budget_eur
    s.flush()
    return org
