"""``explain``: why a job waits (or where it runs), per site, from the scheduler's own rules.

A pending job whose organisation or project has spent its budget waits for that reason first:
``reason`` is ``budget`` with the sentence, and ``budgets`` lists the budgets that apply to the job
(``scope``, ``budget_eur``, ``spent_eur``, ``remaining_eur``, ``exhausted``) whatever the sites say.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.orm import Session

from hexagrid.domain import ReasonCode
from hexagrid.server.budgets import budget_book
from hexagrid.server.loop import build_live_state, job_spec
from hexagrid.server.models import Job
from hexagrid.server.services import load_sites

__all__ = ["explain_job"]


def explain_job(s: Session, *, job: Job, now: float | None = None, signals: Any = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    out: dict[str, Any] = {
        "job_id": job.id,
        "state": job.state,
        "attempt": job.attempt,
        "site": job.site_id,
        "pool": job.pool_id,
        "reason": job.reason,
        "message": job.message,
        "deferred_until_s": job.deferred_until_s,
        "budgets": [],
        "sites": [],
    }
    if job.state != "pending":
        return out
    from hexagrid.scheduling import explain

    # the budgets that apply to the job, with their spend now; an exhausted one is why it waits,
    # whatever the sites say (the loop keeps such jobs out of the scheduler's queue)
    book = budget_book(s, org_ids=[job.org_id], now=now)
    out["budgets"] = [b.public() for b in book.for_job(job.org_id, job.project)]
    held = book.binding(job.org_id, job.project)
    if held is not None:
        out["reason"], out["message"], out["deferred_until_s"] = ReasonCode.BUDGET.value, held.sentence(), None
    elif job.reason == ReasonCode.BUDGET.value:  # the budget was raised since the last pass
        out["reason"], out["message"] = None, "its budget allows it now: waiting for the next scheduling pass"
    live = build_live_state(s, now)
    verdicts: dict[str, dict[str, Any]] = {}
    if live.state is not None:
        for v in explain(job_spec(job), live.state, signals, now):
            verdicts[v.site_id] = {
                "site": v.site_id,
                "eligible": bool(v.eligible),
                "reason": None if v.reason is None else str(getattr(v.reason, "value", v.reason)),
                "message": v.message,
            }
    for site_id in load_sites(s):
        verdicts.setdefault(
            site_id,
            {
                "site": site_id,
                "eligible": False,
                "reason": "capacity",
                "message": f"no registered node at {site_id} is ready and inside its availability window",
            },
        )
    out["sites"] = [verdicts[k] for k in sorted(verdicts)]
    return out
