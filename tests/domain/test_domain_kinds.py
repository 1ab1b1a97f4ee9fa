"""The closed vocabularies: access rules, tier order, and the decision records."""

from __future__ import annotations

from hexagrid.domain import Access, NotNow, ReasonCode, SovereigntyTier, Start, TenantClass


def test_access_admits() -> None:
    assert Access.ACADEMIC.admits(TenantClass.ACADEMIC)
    assert not Access.ACADEMIC.admits(TenantClass.COMMERCIAL)  # public supercomputers: research only (FACTS)
    assert not Access.COMMERCIAL.admits(TenantClass.ACADEMIC)
    assert Access.BOTH.admits(TenantClass.ACADEMIC) and Access.BOTH.admits(TenantClass.COMMERCIAL)


def test_tier_order() -> None:
    s, eu, snc = SovereigntyTier.STANDARD, SovereigntyTier.EU_SOVEREIGN, SovereigntyTier.SECNUMCLOUD
    assert s.rank < eu.rank < snc.rank
    assert snc.satisfies(eu) and snc.satisfies(s) and eu.satisfies(eu)
    assert not s.satisfies(eu) and not eu.satisfies(snc)


def test_decisions() -> None:
    start = Start(job_id="j", site_id="s", pool_id="p", nodes=2, gpus_per_node=8)
    assert start.gpus == 16 and start.node_indices == ()
    wait = NotNow(job_id="j", reason=ReasonCode.POWER_ENVELOPE, message="no MW")
    assert wait.reason.value == "power_envelope" and wait.reserved_start_s is None
