"""``static_masks`` reads its rule groups' keys from the rows' signatures: its masks, shapes and latencies must
be those of ``static_rules``, which reads every rule from the spec one by one."""

from __future__ import annotations

import numpy as np

from hexagrid.benchmarks.scheduler import BENCH_NOW_S, synthetic_fleet, synthetic_queue
from hexagrid.scheduling import ClusterState, JobQueue, SchedulerConfig
from hexagrid.scheduling.rules import static_masks, static_rules


def test_masks_from_signatures_match_the_rules_one_by_one() -> None:
    rng = np.random.default_rng(11)
    fleet, tenants = synthetic_fleet(30_000, rng)
    ix = ClusterState.from_fleet(fleet, tenants).ix
    q = JobQueue.from_specs(synthetic_queue(1_500, tenants, BENCH_NOW_S, rng))
    cfg = SchedulerConfig()
    rows = q.skey_rows * 2
    classes = [0] * len(q.skey_rows) + [1] * len(q.skey_rows)
    skeys = list(q.skey_codes) * 2
    for keys in (skeys, None):
        masks, gs, ns, lats = static_masks(ix, rows, classes, cfg, keys)
        for j, (row, tclass) in enumerate(zip(rows, classes, strict=True)):
            st = static_rules(ix, row, tclass, cfg)
            assert masks[j].tolist() == st.mask.tolist()
            assert gs[j].tolist() == st.g.tolist() and ns[j].tolist() == st.n.tolist()
            assert (lats[j] is None) == (st.site_latency_ms is None)
            if st.site_latency_ms is not None:
                assert lats[j].tolist() == st.site_latency_ms.tolist()  # type: ignore[union-attr]
    assert any(m.any() for m in masks) and not all(m.any() for m in masks)
